package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// Outcome reads the exactly-once record of request id, write idx of ORDER
// seq: how it ended. false: no record of that write under that id (never
// applied here, expired after the dedup window, or the id reused). The
// change feed reads it when the in-memory window has forgotten an id the
// feed still has to publish.
func (c *Cassandra) Outcome(ctx context.Context, id string, seq uint64, idx uint32) (messages.Outcome, bool, error) {
	rec, err := c.recordAt(ctx, seq, int(idx))
	if err == nil && rec.id != id {
		err = gocql.ErrNotFound
	}
	return outcomeOf(rec, err, c.keyspace)
}

// Outcome is Cassandra.Outcome on the memory store, which keeps the
// records by id (the feed checks the position).
func (m *Memory) Outcome(_ context.Context, id string, _ uint64, _ uint32) (messages.Outcome, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, err := m.record(id)
	return outcomeOf(rec, err, "memory")
}

// Outcome: the noop store keeps no records.
func (Noop) Outcome(context.Context, string, uint64, uint32) (messages.Outcome, bool, error) {
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
