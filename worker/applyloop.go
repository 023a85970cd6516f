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
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consuming the ORDER log: %w", err)
	}
	go func() { <-ctx.Done(); it.Stop() }()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			w.log.Warn("reading the ORDER log", "err", err)
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			w.log.Warn("log entry without metadata", "err", err)
			continue
		}
		if !ap.Offer(md.Sequence.Stream, msg.Data()) {
			w.Duplicates.Store(ap.Duplicates)
			continue
		}
		for st, ok := ap.Next(); ok; st, ok = ap.Next() {
			if err := w.process(ctx, st); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			ap.Done(st)
			w.applied.Store(st.Seq)
			w.epoch.Store(ap.Epoch())
		}
	}
}

// process applies one step, retrying storage failures until they pass;
// then it ACKs. It fails only when ctx ends or the keyspace is gone.
func (w *Worker) process(ctx context.Context, st Step) error {
	ack := messages.Ack{Worker: w.cfg.ID, Epoch: max(w.epoch.Load(), st.Order.Epoch), Applied: st.Seq}
	switch st.Kind {
	case StepApply:
		outs, err := w.applyWithRetry(ctx, st.Order)
		if err != nil {
			return err
		}
		now := time.Now()
		for i, o := range outs {
			w.recent.Add(st.Order.Writes[i].RequestID, o, now)
		}
		ack.Outcomes = outs
	case StepSkip:
		w.Garbage.Add(1)
		w.log.Warn("skipping log entry", "seq", st.Seq, "why", st.Outcome.Error)
		ack.Outcomes = []messages.Outcome{st.Outcome}
		ack.Epoch = w.epoch.Load()
	case StepMarker:
		w.log.Debug("epoch marker", "seq", st.Seq, "epoch", st.Order.Epoch, "leader", st.Order.Leader)
	}
	_ = w.nc.Publish(w.subjects.Ack(), messages.MustEncode(&ack))
	return nil
}

func (w *Worker) applyWithRetry(ctx context.Context, o messages.Order) ([]messages.Outcome, error) {
	b := newBackoff()
	for {
		actx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
		outs, err := w.store.Apply(actx, o)
		cancel()
		if err == nil {
			if w.stalled.Load() != nil {
				w.log.Info("applying again", "seq", o.Seq)
				w.stalled.Store(nil)
			}
			return outs, nil
		}
		if errors.Is(err, store.ErrKeyspaceLost) {
			return nil, fmt.Errorf("%w; restart the worker to rebuild it from the log", err)
		}
		msg := fmt.Sprintf("cannot apply seq %d: %v", o.Seq, err)
		w.stalled.Store(&msg)
		w.log.Warn("apply failed; retrying the same ORDER", "seq", o.Seq, "err", err)
		if !b.wait(ctx) {
			return nil, ctx.Err()
		}
	}
}
