package chorustest

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

func jetstreamNew(nc *nats.Conn) (jetstream.JetStream, error) { return jetstream.New(nc) }

// readAll returns the ORDER log's entries in order; an entry that is not a
// valid ORDER comes back with Seq set and Kind 255.
func readAll(ctx context.Context, js jetstream.JetStream, stream string) ([]messages.Order, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []messages.Order
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		var o messages.Order
		if messages.Decode(raw.Data, &o) != nil || o.Seq != seq {
			o = messages.Order{Seq: seq, Kind: 255}
		}
		out = append(out, o)
	}
	return out, nil
}

// OrderLog reads a cluster's ORDER log directly in JetStream, as a test
// that checks or builds its history needs.
type OrderLog struct {
	js       jetstream.JetStream
	subjects messages.Subjects
}

// NewOrderLog is the ORDER log of the cluster with subject prefix prefix,
// reached through nc.
func NewOrderLog(nc *nats.Conn, prefix string) (*OrderLog, error) {
	// Appends go out in windows of appendWindow: let that many be pending.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*appendWindow))
	if err != nil {
		return nil, err
	}
	return &OrderLog{js: js, subjects: messages.NewSubjects(prefix)}, nil
}

func (l *OrderLog) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := l.js.Stream(ctx, l.subjects.StreamName())
	if err != nil {
		return nil, fmt.Errorf("ORDER log %s: %w", l.subjects.StreamName(), err)
	}
	return st, nil
}

// LastSeq is the sequence of the log's last entry (0 if it is empty).
func (l *OrderLog) LastSeq(ctx context.Context) (uint64, error) {
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
func (l *OrderLog) Tail(ctx context.Context) (messages.Order, error) {
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
func (l *OrderLog) CountWrites(ctx context.Context, from, to uint64) (int, error) {
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
