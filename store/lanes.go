package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// A long run (a replica catching up, or a burst) is applied in lanes:
// several logged batches at once, each lane's in log order. A write whose
// order matters (cql.OrderOf: list cells take the applying node's clock)
// goes to the lane of its row, so writes of one row keep their order;
// free writes go anywhere. The lanes' batches carry the writes and their
// exactly-once records but no progress: once all landed, one write moves
// the progress past the chunk. Until then the records are the truth: a
// write with a record landed (the record is in its batch), so after a
// failure or a crash the writes of the ORDERs up to the horizon are
// looked up (landedIn) and only the missing ones applied again.
const (
	laneMin   = 256 // writes of a run below which it is applied in one lane, with its progress
	laneChunk = 512 // writes per chunk of lanes; bounds the ORDERs beyond the progress
	laneCount = 4
)

// planLanes splits rs, all batchable, into laneCount lanes, each in log
// order; false when some write must keep its order against all (then the
// run goes in one lane).
func planLanes(rs []ref) ([][]ref, bool) {
	orders := make([]cql.ApplyOrder, len(rs))
	whole := map[string]bool{} // tables some write orders as a whole
	for i, r := range rs {
		o := cql.OrderOf(r.st.Text)
		if o.Any {
			return nil, false
		}
		if !o.Free && o.Row == "" {
			whole[o.Table] = true
		}
		orders[i] = o
	}
	lanes := make([][]ref, laneCount)
	next := 0
	for i, r := range rs {
		o := orders[i]
		if o.Free {
			lanes[next] = append(lanes[next], r)
			next = (next + 1) % laneCount
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(o.Table))
		if !whole[o.Table] {
			h.Write([]byte{0})
			h.Write([]byte(o.Row))
		}
		l := int(h.Sum32() % laneCount)
		lanes[l] = append(lanes[l], r)
	}
	return lanes, true
}

// applyLanes applies rs (consecutive writes, all batchable) in lanes, then
// records the progress past the last. On an error the writes that landed
// are known by their records (c.horizon covers them); errRefused: a batch
// was refused (a statement Cassandra rejects), so the caller applies what
// is missing one lane's way.
func (c *Cassandra) applyLanes(ctx context.Context, rs []ref, lanes [][]ref) error {
	c.horizon = max(c.horizon, rs[len(rs)-1].o.Seq)
	var wg sync.WaitGroup
	errs := make([]error, len(lanes))
	for l, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(lane) && errs[l] == nil; i += maxGroup {
				errs[l] = c.applyBatch(ctx, lane[i:min(i+maxGroup, len(lane))], false)
			}
		}()
	}
	wg.Wait()
	var refused error
	for _, err := range errs {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		if err != nil {
			refused = err
		}
	}
	if refused != nil {
		return fmt.Errorf("%w: %v", errRefused, refused)
	}
	last := rs[len(rs)-1]
	return c.recordProgress(ctx, last.o, last.k+1)
}

// recordProgress records, alone, that o's writes before next are applied
// (with all before them): the lanes' batches carry no progress.
func (c *Cassandra) recordProgress(ctx context.Context, o *messages.Order, next int) error {
	applied, partial := progress(o, next)
	if err := c.session.Query(recordState, o.WriteTimestamp(next-1), int64(applied), int64(o.Epoch), partial).
		WithContext(ctx).Observer(writeObserver{&c.failedOn}).Exec(); err != nil {
		return fmt.Errorf("recording the progress past seq %d write %d in %s: %w", o.Seq, next-1, c.keyspace, classify(err))
	}
	c.advance(o, next)
	return nil
}

var errRefused = errors.New("a batch of a lane was refused")

// landedIn reads the records of ORDER seq: the writes of it that landed.
func (c *Cassandra) landedIn(ctx context.Context, seq uint64) (map[int]record, error) {
	iter := c.session.Query(`SELECT idx, id, code, error FROM `+outcomesTable+` WHERE bucket = ? AND seq = ?`,
		bucketOf(seq), int64(seq)).WithContext(ctx).Iter()
	out := map[int]record{}
	rec := record{seq: int64(seq)}
	for iter.Scan(&rec.idx, &rec.id, &rec.code, &rec.msg) {
		out[rec.idx] = rec
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading the records of seq %d in %s: %w", seq, c.keyspace, classify(err))
	}
	return out, nil
}

// findHorizon finds, at open, the last ORDER beyond the progress with a
// record: lanes that were applying when the worker stopped may have
// landed writes up to it. A chunk ends within laneChunk ORDERs of the
// progress (applyLaned).
func (c *Cassandra) findHorizon(ctx context.Context) error {
	from := c.st.Applied
	for b := bucketOf(from); b <= bucketOf(from+laneChunk); b++ {
		var seq int64
		err := c.session.Query(`SELECT seq FROM `+outcomesTable+` WHERE bucket = ? AND seq > ? ORDER BY seq DESC LIMIT 1`,
			b, int64(from)).WithContext(ctx).Scan(&seq)
		switch {
		case err == nil:
			c.horizon = max(c.horizon, uint64(seq))
		case !errors.Is(err, gocql.ErrNotFound):
			return fmt.Errorf("reading the records beyond seq %d in %s: %w", from, c.keyspace, classify(err))
		}
	}
	return nil
}

// applyLaned applies todo's leading chunks in lanes while they are long
// enough and hold only batchable writes; it returns the writes left for
// the one-lane path (all of them when lanes do not apply).
func (c *Cassandra) applyLaned(ctx context.Context, todo []ref, outs [][]messages.Outcome) ([]ref, error) {
	for len(todo) >= laneMin {
		// A chunk ends within laneChunk ORDERs of the progress, so that
		// findHorizon knows how far to look, even for a chunk applied
		// again with the writes that landed taken out.
		n := 0
		for n < len(todo) && n < laneChunk && todo[n].o.Seq <= c.st.Applied+laneChunk {
			n++
		}
		if n < laneMin {
			return todo, nil
		}
		chunk := todo[:n]
		for _, r := range chunk {
			if r.perr != nil || !batchable(r.st) {
				return todo, nil
			}
		}
		lanes, ok := planLanes(chunk)
		if !ok {
			return todo, nil
		}
		err := c.applyLanes(ctx, chunk, lanes)
		if errors.Is(err, errRefused) {
			// A statement Cassandra rejects: the one-lane path gives each
			// write its own outcome, after what landed is taken out.
			return c.withoutLanded(ctx, todo, outs)
		}
		if err != nil {
			return nil, err
		}
		c.laned++
		todo = todo[len(chunk):]
	}
	return todo, nil
}

// withoutLanded takes out of todo the writes that lanes landed (their
// records say so, with their outcomes, into outs): those of ORDERs past
// the progress up to the horizon.
func (c *Cassandra) withoutLanded(ctx context.Context, todo []ref, outs [][]messages.Outcome) ([]ref, error) {
	if c.horizon <= c.st.Applied {
		return todo, nil
	}
	var left []ref
	var landed map[int]record
	var at uint64
	for _, r := range todo {
		if r.o.Seq > c.horizon {
			left = append(left, r)
			continue
		}
		if r.o.Seq != at {
			var err error
			if landed, err = c.landedIn(ctx, r.o.Seq); err != nil {
				return nil, err
			}
			at = r.o.Seq
		}
		rec, ok := landed[r.k]
		if !ok {
			left = append(left, r)
			continue
		}
		out, err := decideRecorded(r.o.Seq, r.k, recordedID(r.o.Writes[r.k].RequestID), rec, nil)
		if err != nil {
			return nil, err
		}
		outs[r.n][r.k] = out
	}
	return left, nil
}

// coverLanded moves the progress past the last write of orders when the
// writes after it had all landed in lanes (withoutLanded took them out, so
// nothing else moved it): else the progress would wait for the next write,
// and the records it leans on meanwhile expire after the dedup window.
func (c *Cassandra) coverLanded(ctx context.Context, orders []messages.Order) error {
	for n := len(orders) - 1; n >= 0; n-- {
		o := &orders[n]
		if len(o.Writes) == 0 {
			continue
		}
		applied, partial := progress(o, len(o.Writes))
		if c.st.Applied > applied || (c.st.Applied == applied && int(c.st.Partial) >= partial) {
			return nil
		}
		return c.recordProgress(ctx, o, len(o.Writes))
	}
	return nil
}
