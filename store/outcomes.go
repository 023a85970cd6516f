package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// The exactly-once records live in chorus_outcomes, keyed by the write's
// log position: a run's records share a partition (bucket: 256
// consecutive seqs), so a logged batch of 32 writes costs Cassandra one
// partition of records instead of 32 (BenchmarkApplyPaths: about 190
// against 330 µs per write). Whoever looks a record up knows the position:
// the replica applying an ORDER again and the change feed alike; the
// worker's in-memory window (rebuilt from all records at start) answers
// lookups by request id.
var createOutcomes = `CREATE TABLE IF NOT EXISTS ` + outcomesTable +
	` (bucket bigint, seq bigint, idx int, id text, code int, error text, PRIMARY KEY ((bucket), seq, idx)) WITH ` + requestsOptions

// bucketShift: 2^8 seqs per partition. A run of up to 512 writes spans at
// most a few buckets, and a bucket holds at most 256 ORDERs' records.
const bucketShift = 8

func bucketOf(seq uint64) int64 { return int64(seq >> bucketShift) }

// legacyRequestsTable held the records by request id, one partition per
// write, before chorus_outcomes; migrateRequests moves its records.
const legacyRequestsTable = "chorus_requests"

// recordedID is a request id as its record holds it. The record's id is
// a text column, which takes only UTF-8; the leader orders no other id
// (check.RequestID), but a log ordered before that check may hold one,
// and recording it as sent would stop every replica at its write. Such an
// id is recorded with U+FFFD for each bad byte, the same on every replica.
func recordedID(id string) string { return strings.ToValidUTF8(id, "\uFFFD") }

// recordedOutcome is the recorded outcome of write k of o, already applied.
func (c *Cassandra) recordedOutcome(ctx context.Context, o *messages.Order, k int) (messages.Outcome, error) {
	rec, err := c.recordAt(ctx, o.Seq, k)
	out, err := decideRecorded(o.Seq, k, recordedID(o.Writes[k].RequestID), rec, err)
	if err != nil {
		return out, fmt.Errorf("reading the outcome of seq %d write %d in %s: %w", o.Seq, k, c.keyspace, err)
	}
	return out, nil
}

// recordAt reads the record of write k of ORDER seq.
func (c *Cassandra) recordAt(ctx context.Context, seq uint64, k int) (record, error) {
	rec := record{seq: int64(seq), idx: k}
	err := c.session.Query(`SELECT id, code, error FROM `+outcomesTable+` WHERE bucket = ? AND seq = ? AND idx = ?`,
		bucketOf(seq), int64(seq), k).WithContext(ctx).Scan(&rec.id, &rec.code, &rec.msg)
	return rec, err
}

// record is an exactly-once record as scanned.
type record struct {
	id        string
	seq       int64
	idx, code int
	msg       string
}

// decideRecorded turns what reading the record of write k of ORDER seq,
// request id, returned (rec, and the read's error err) into that write's
// outcome. The record of progress says the write is applied, and it was
// written in the same logged batch as this record, so:
//   - A failed read says nothing about the write: it is a storage failure,
//     returned (classified) so that the apply loop retries, never an
//     outcome. The read fails exactly when Cassandra is flaky, which is
//     when an ORDER is applied again after a failed attempt.
//   - A missing record (expired after the dedup window, or deleted), or
//     one of another write (the memory store keeps records by id, so an id
//     reused by a later write overwrote it), means the write is applied but
//     its outcome is lost. It is reported as such, CodeInternal, never as
//     success: the write may have failed (a CQL error), and a success would
//     tell the client its data is stored when it is not. It is not an
//     error either: the record will not come back, so a retry would stall
//     the replica for ever. The leader sees the outcome differ from the
//     other replicas' and says so.
func decideRecorded(seq uint64, k int, id string, rec record, err error) (messages.Outcome, error) {
	out := messages.Outcome{Seq: seq, Index: uint32(k)}
	lostOutcome := func(why string) (messages.Outcome, error) {
		out.Code = messages.CodeInternal
		out.Error = fmt.Sprintf("seq %d write %d was applied, but its outcome is no longer known (%s); check whether the write took effect", seq, k, why)
		return out, nil
	}
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return lostOutcome("its request record expired or was deleted")
	case err != nil:
		if lost(err) {
			return messages.Outcome{}, fmt.Errorf("%w: %v", ErrKeyspaceLost, err)
		}
		return messages.Outcome{}, classify(err)
	case uint64(rec.seq) != seq || rec.idx != k:
		return lostOutcome(fmt.Sprintf("its request id was reused by seq %d write %d", rec.seq, rec.idx))
	case rec.id != id:
		return lostOutcome(fmt.Sprintf("its record names request %q, not %q", rec.id, id))
	}
	out.Code, out.Error = messages.Code(rec.code), rec.msg
	return out, nil
}

// Requests lists the remembered request ids, to rebuild the exactly-once
// window after a restart, oldest write first: an id used twice ends with
// its last write's outcome.
func (c *Cassandra) Requests(ctx context.Context) ([]Request, error) {
	iter := c.session.Query(`SELECT id, seq, idx, code, error FROM ` + outcomesTable).WithContext(ctx).PageSize(5000).Iter()
	var out []Request
	var id, msg string
	var seq int64
	var idx, code int
	for iter.Scan(&id, &seq, &idx, &code, &msg) {
		out = append(out, Request{ID: id, Outcome: messages.Outcome{Seq: uint64(seq), Index: uint32(idx), Code: messages.Code(code), Error: msg}})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading request ids of %s: %w", c.keyspace, classify(err))
	}
	slices.SortFunc(out, func(a, b Request) int {
		return cmp.Or(cmp.Compare(a.Outcome.Seq, b.Outcome.Seq), cmp.Compare(a.Outcome.Index, b.Outcome.Index))
	})
	return out, nil
}

// migrateRequests moves the records of a keyspace made before
// chorus_outcomes into it, with their timestamps and what remains of their
// TTLs, then drops the old table. Run again after a crash it copies the
// same cells again (same timestamps), so it can stop anywhere.
func (c *Cassandra) migrateRequests(ctx context.Context) error {
	var name string
	err := c.session.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`,
		c.keyspace, legacyRequestsTable).WithContext(ctx).Scan(&name)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("looking for %s in %s: %w", legacyRequestsTable, c.keyspace, classify(err))
	}
	iter := c.session.Query(`SELECT id, seq, idx, code, error, WRITETIME(seq), TTL(seq) FROM ` + legacyRequestsTable).WithContext(ctx).PageSize(1000).Iter()
	var id, msg string
	var seq, ts int64
	var idx, code, ttl, n int
	b := c.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	flush := func() error {
		if b.Size() == 0 {
			return nil
		}
		if err := c.session.ExecuteBatch(b); err != nil {
			return fmt.Errorf("copying request records of %s into %s: %w", c.keyspace, outcomesTable, classify(err))
		}
		b = c.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		return nil
	}
	for iter.Scan(&id, &seq, &idx, &code, &msg, &ts, &ttl) {
		b.Query(recordRequest, bucketOf(uint64(seq)), seq, idx, id, code, msg, ttl, ts)
		n++
		if b.Size() >= 64 {
			if err := flush(); err != nil {
				iter.Close()
				return err
			}
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading %s of %s: %w", legacyRequestsTable, c.keyspace, classify(err))
	}
	if err := flush(); err != nil {
		return err
	}
	if err := c.session.Query(`DROP TABLE IF EXISTS ` + legacyRequestsTable).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("dropping %s of %s after moving its records: %w", legacyRequestsTable, c.keyspace, classify(err))
	}
	c.log.Info("moved the exactly-once records into "+outcomesTable, "keyspace", c.keyspace, "records", n)
	return nil
}
