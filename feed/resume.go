package feed

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// FindStart returns the stream sequence of the first change of seq from
// or later, in a changes stream holding the messages first..last
// (last+1 if there is none yet). Changes are stored in key order and the
// stream only loses its oldest messages (retention by bytes), so the
// messages are dense and their seqs sorted: a binary search of
// O(log n) reads (seqAt: the Chorus seq of the message at a stream
// sequence) finds it.
func FindStart(first, last, from uint64, seqAt func(streamSeq uint64) (uint64, error)) (uint64, error) {
	if first == 0 {
		first = 1
	}
	if last < first {
		return last + 1, nil
	}
	var err error
	n := int(last - first + 1)
	i := sort.Search(n, func(i int) bool {
		if err != nil {
			return true
		}
		var s uint64
		s, err = seqAt(first + uint64(i))
		return s >= from
	})
	if err != nil {
		return 0, err
	}
	return first + uint64(i), nil
}

// ErrTrimmed is returned by Start when the changes asked for may be
// older than the oldest the stream keeps (CHORUS_FEED_MAX_BYTES).
var ErrTrimmed = errors.New("feed: changes dropped by the stream's retention")

// Start finds where an ordered consumer of the changes stream st must
// start to deliver every change of seq from or later. from 0 means the
// changes from now on (DeliverNew).
func Start(ctx context.Context, st jetstream.Stream, from uint64) (jetstream.OrderedConsumerConfig, error) {
	if from == 0 {
		return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}, nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return jetstream.OrderedConsumerConfig{}, fmt.Errorf("reading the changes stream: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		first = last + 1
	}
	seqAt := func(s uint64) (uint64, error) {
		m, err := st.GetMsg(ctx, s)
		if err != nil {
			return 0, fmt.Errorf("reading change at stream seq %d: %w", s, err)
		}
		k, err := KeyOf(m.Header)
		return k.Seq, err
	}
	start, err := FindStart(first, last, from, seqAt)
	if err != nil {
		return jetstream.OrderedConsumerConfig{}, err
	}
	if start == first && first > 1 {
		// Something before the first message kept was dropped: it may
		// have been of seq from or later.
		if s, err := seqAt(first); err == nil && s > from {
			return jetstream.OrderedConsumerConfig{}, fmt.Errorf("%w: the oldest change kept is of seq %d, after %d; changes in between may be lost: resynchronise, then watch from seq %d", ErrTrimmed, s, from, s)
		}
	}
	return jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}, nil
}

// Dedup drops changes at or before the last one delivered, the feed's
// at-least-once made exactly-once for a subscriber: keep one per watch.
type Dedup struct {
	last    messages.ChangeKey
	started bool
	// Dropped counts the changes dropped as seen before.
	Dropped uint64
}

// Fresh reports whether k comes after every key seen, and records it.
func (d *Dedup) Fresh(k messages.ChangeKey) bool {
	if d.started && !d.last.Less(k) {
		d.Dropped++
		return false
	}
	d.last, d.started = k, true
	return true
}
