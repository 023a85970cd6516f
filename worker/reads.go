package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

// readFresh waits until this replica can answer a read at level rc: for
// linearizable until it has applied a read index the leader handed out
// after the read arrived; for min_seq until it has applied that seq; for
// bounded until it was caught up with the leader at most rc.Bound ago
// (at once if it was, else as linearizable). local does not wait. A read
// that cannot be made that fresh before ctx ends gets an error, answered
// UNAVAILABLE: never older data.
func (w *Worker) readFresh(ctx context.Context, rc messages.ReadConsistency) error {
	switch rc.Level {
	case messages.ReadLocal:
		return nil
	case messages.ReadMinSeq:
		return w.waitApplied(ctx, rc.Seq, "min_seq")
	case messages.ReadBounded:
		if at := w.freshAt.Load(); at != 0 && monoNow()-at <= int64(rc.Bound) {
			return nil
		}
	}
	asked := monoNow()
	idx, err := w.readIndex(ctx)
	if err != nil {
		return err
	}
	if err := w.waitApplied(ctx, idx, "the read index"); err != nil {
		return err
	}
	// Caught up as of asked: every write acknowledged before it is applied.
	for {
		prev := w.freshAt.Load()
		if prev >= asked || w.freshAt.CompareAndSwap(prev, asked) {
			return nil
		}
	}
}

// monoEpoch makes monoNow monotonic: a step of the wall clock must not
// make a bounded read look fresher than it is.
var monoEpoch = time.Now()

// monoNow is the monotonic time in ns since monoEpoch (never 0 after it).
func monoNow() int64 { return int64(time.Since(monoEpoch)) + 1 }

// waitApplied waits for the replica to apply seq, until ctx ends.
func (w *Worker) waitApplied(ctx context.Context, seq uint64, what string) error {
	if err := w.applyWatch.wait(ctx, &w.applied, seq); err != nil {
		why := ""
		if s := w.stalled.Load(); s != nil {
			why = " (" + *s + ")"
		}
		return fmt.Errorf("worker %s has applied seq %d, not yet %s %d, after %s%s; retry, or read from another worker",
			w.cfg.ID, w.applied.Load(), what, seq, w.cfg.ReadTimeout, why)
	}
	return nil
}

// readIndex asks the leader for a read index (Subjects.ReadIndex), under
// ForwardRetry's policy: attempts of at most ForwardAttempt, again after
// no responders or a leader that answers it cannot (stepping down), until
// ctx ends.
func (w *Worker) readIndex(ctx context.Context) (uint64, error) {
	data := messages.MustEncode(&messages.ReadIndex{Origin: w.cfg.ID})
	deadline, _ := ctx.Deadline()
	policy := NewForwardRetry(time.Now(), time.Until(deadline))
	var last error
	for {
		d, ok := policy.Attempt(time.Now())
		if !ok || ctx.Err() != nil || w.stopping.Load() {
			return 0, fmt.Errorf("worker %s got no read index from a leader within %s (%v); retry",
				w.cfg.ID, w.cfg.ReadTimeout, last)
		}
		actx, cancel := context.WithTimeout(ctx, d)
		resp, err := w.nc.RequestWithContext(actx, w.subjects.ReadIndex(), data)
		cancel()
		refused := errors.Is(err, nats.ErrNoResponders)
		if err == nil {
			var r messages.ReadIndexReply
			switch err = messages.Decode(resp.Data, &r); {
			case err != nil:
				w.log.Warn("leader answered a read index request with garbage", "err", err)
			case r.Code != messages.CodeOK:
				err, refused = errors.New(r.Error), true
			default:
				return r.Seq, nil
			}
		}
		last = err
		if pause := policy.Failed(refused); pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}
