package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// Outcome reads the exactly-once record of request id: how its write
// ended, at which seq and index. false: no record (never applied here, or
// expired after the dedup window). The change feed reads it when the
// in-memory window has forgotten an id the feed still has to publish.
func (c *Cassandra) Outcome(ctx context.Context, id string) (messages.Outcome, bool, error) {
	var rec record
	err := c.session.Query(`SELECT seq, idx, code, error FROM `+requestsTable+` WHERE id = ?`, id).WithContext(ctx).Scan(&rec.seq, &rec.idx, &rec.code, &rec.msg)
	return outcomeOf(rec, err, c.keyspace)
}

// Outcome is Cassandra.Outcome on the memory store.
func (m *Memory) Outcome(_ context.Context, id string) (messages.Outcome, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, err := m.record(id)
	return outcomeOf(rec, err, "memory")
}

// Outcome: the noop store keeps no records.
func (Noop) Outcome(context.Context, string) (messages.Outcome, bool, error) {
	return messages.Outcome{}, false, nil
}

func outcomeOf(rec record, err error, keyspace string) (messages.Outcome, bool, error) {
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return messages.Outcome{}, false, nil
	case err != nil:
		return messages.Outcome{}, false, fmt.Errorf("reading a request record in %s: %w", keyspace, classify(err))
	}
	return messages.Outcome{Seq: uint64(rec.seq), Index: uint32(rec.idx), Code: messages.Code(rec.code), Error: rec.msg}, true, nil
}
