// Package orderlog reads and crafts a cluster's ORDER log directly in
// JetStream, as tests that check or build a history need, and benchmarks
// that build a long one. It does not import "testing", so programs can use
// it (bench/cmd/joinbench); chorustest re-exports it as OrderLog.
package orderlog

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// Log is a cluster's ORDER log, read (and appended to) directly in
// JetStream.
type Log struct {
	js       jetstream.JetStream
	subjects messages.Subjects
}

// New is the ORDER log of the cluster with subject prefix prefix,
// reached through nc.
func New(nc *nats.Conn, prefix string) (*Log, error) {
	// Appends go out in windows of appendWindow: let that many be pending.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*appendWindow))
	if err != nil {
		return nil, err
	}
	return &Log{js: js, subjects: messages.NewSubjects(prefix)}, nil
}

func (l *Log) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := l.js.Stream(ctx, l.subjects.StreamName())
	if err != nil {
		return nil, fmt.Errorf("ORDER log %s: %w", l.subjects.StreamName(), err)
	}
	return st, nil
}

// LastSeq is the sequence of the log's last entry (0 if it is empty).
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	st, err := l.stream(ctx)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("ORDER log %s: %w", l.subjects.StreamName(), err)
	}
	return info.State.LastSeq, nil
}

// Tail is the log's last entry, which must be a valid ORDER.
func (l *Log) Tail(ctx context.Context) (messages.Order, error) {
	var o messages.Order
	st, err := l.stream(ctx)
	if err != nil {
		return o, err
	}
	last, err := l.LastSeq(ctx)
	if err != nil {
		return o, err
	}
	if last == 0 {
		return o, fmt.Errorf("ORDER log %s is empty", l.subjects.StreamName())
	}
	raw, err := st.GetMsg(ctx, last)
	if err != nil {
		return o, fmt.Errorf("ORDER log %s, seq %d: %w", l.subjects.StreamName(), last, err)
	}
	if err := messages.Decode(raw.Data, &o); err != nil {
		return o, fmt.Errorf("ORDER log %s: last entry %d is not an ORDER: %w", l.subjects.StreamName(), last, err)
	}
	return o, nil
}

// CountWrites counts the writes in the log's ORDERs from seq from to seq
// to, both included (an entry that is not a write ORDER counts none).
// Tests use it to report writes applied per second.
func (l *Log) CountWrites(ctx context.Context, from, to uint64) (int, error) {
	if from > to {
		return 0, nil
	}
	if last, err := l.LastSeq(ctx); err != nil {
		return 0, err
	} else if to > last {
		return 0, fmt.Errorf("ORDER log %s ends at %d, cannot count writes up to %d", l.subjects.StreamName(), last, to)
	}
	cons, err := l.js.OrderedConsumer(ctx, l.subjects.StreamName(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return 0, fmt.Errorf("reading ORDER log %s: %w", l.subjects.StreamName(), err)
	}
	writes, next := 0, from
	for next <= to {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, fmt.Errorf("reading ORDER log %s at %d: %w", l.subjects.StreamName(), next, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				return 0, err
			}
			seq := md.Sequence.Stream
			if seq > to {
				continue // the rest of the batch is past the range
			}
			var o messages.Order
			if messages.Decode(m.Data(), &o) == nil && o.Kind == messages.OrderWrite {
				writes += len(o.Writes)
			}
			next = seq + 1
		}
		if err := batch.Error(); err != nil {
			return 0, fmt.Errorf("reading ORDER log %s at %d: %w", l.subjects.StreamName(), next, err)
		}
		if got == 0 {
			return 0, fmt.Errorf("reading ORDER log %s: nothing delivered at %d within 5s", l.subjects.StreamName(), next)
		}
	}
	return writes, nil
}
