package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// maxApplyWrites bounds the writes applied together: the entries that
// arrived while the previous apply ran go to the store in one call
// (replica-side group commit: it keeps up with the leader because a slow
// apply makes the next one bigger).
const maxApplyWrites = 512

// applyLoop consumes the ORDER log from the entry after the last applied
// one and applies entries strictly in order. Catch-up after a restart is
// the same path: the consumer simply starts further back.
func (w *Worker) applyLoop(ctx context.Context) error {
	ap := NewApplier(w.applied.Load(), w.epoch.Load())
	cons, err := w.js.OrderedConsumer(ctx, w.subjects.StreamName(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   ap.Applied() + 1,
	})
	if err != nil {
		return fmt.Errorf("consuming the ORDER log: %w", err)
	}
	entries := make(chan jetstream.Msg, 1024)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select { // hand off; blocking here is flow control for the consumer
		case entries <- m:
		case <-ctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		w.log.Debug("reading the ORDER log", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consuming the ORDER log: %w", err)
	}
	defer cc.Stop()
	offer := func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			w.log.Warn("log entry without metadata", "err", err)
			return
		}
		if !ap.Offer(md.Sequence.Stream, m.Data()) {
			w.Duplicates.Store(ap.Duplicates)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-entries:
			offer(m)
		}
	drain: // everything already delivered joins this run
		for {
			select {
			case m := <-entries:
				offer(m)
			default:
				break drain
			}
		}
		for run := ap.Run(maxApplyWrites); len(run) > 0; run = ap.Run(maxApplyWrites) {
			if err := w.process(ctx, run); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, st := range run {
				ap.Done(st)
			}
			w.applied.Store(ap.Applied())
			w.epoch.Store(ap.Epoch())
		}
	}
}

// process applies a run of steps, retrying storage failures until they
// pass; then it ACKs them at once. It fails only when ctx ends or the
// keyspace is gone.
func (w *Worker) process(ctx context.Context, run []Step) error {
	last := run[len(run)-1]
	ack := messages.Ack{Worker: w.cfg.ID, Epoch: w.epoch.Load(), Applied: last.Seq}
	var orders []messages.Order
	for _, st := range run {
		switch st.Kind {
		case StepApply:
			orders = append(orders, st.Order)
		case StepSkip:
			w.Garbage.Add(1)
			w.log.Warn("skipping log entry", "seq", st.Seq, "why", st.Outcome.Error)
			ack.Outcomes = append(ack.Outcomes, st.Outcome)
		case StepMarker:
			w.log.Debug("epoch marker", "seq", st.Seq, "epoch", st.Order.Epoch, "leader", st.Order.Leader)
		}
		if st.Kind != StepSkip {
			ack.Epoch = max(ack.Epoch, st.Order.Epoch)
		}
	}
	if len(orders) > 0 {
		outs, err := w.applyWithRetry(ctx, orders)
		if err != nil {
			return err
		}
		now := time.Now()
		for n, o := range orders {
			for i, out := range outs[n] {
				w.recent.Add(o.Writes[i].RequestID, out, now)
			}
			ack.Outcomes = append(ack.Outcomes, outs[n]...)
		}
	}
	_ = w.nc.Publish(w.subjects.Ack(), messages.MustEncode(&ack))
	return nil
}

func (w *Worker) applyWithRetry(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	b := newBackoff()
	for {
		actx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
		outs, err := w.store.Apply(actx, orders)
		cancel()
		if err == nil {
			if w.stalled.Load() != nil {
				w.log.Info("applying again", "seq", orders[0].Seq)
				w.stalled.Store(nil)
			}
			return outs, nil
		}
		if errors.Is(err, store.ErrKeyspaceLost) {
			return nil, fmt.Errorf("%w; restart the worker to rebuild it from the log", err)
		}
		msg := fmt.Sprintf("cannot apply seq %d: %v", orders[0].Seq, err)
		w.stalled.Store(&msg)
		w.log.Warn("apply failed; retrying the same ORDERs", "seq", orders[0].Seq, "err", err)
		if !b.wait(ctx) {
			return nil, ctx.Err()
		}
	}
}
