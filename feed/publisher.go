package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// Config configures a Publisher.
type Config struct {
	Subjects messages.Subjects
	// Outcome looks a write's outcome up in the worker's own replica.
	Outcome Outcomes
	Log     *slog.Logger
}

// Publisher publishes the change feed while its worker leads (see the
// package documentation). Committed and Needs are safe for concurrent
// use; Run is one goroutine.
type Publisher struct {
	cfg     Config
	js      jetstream.JetStream
	changes jetstream.Stream

	mu        sync.Mutex
	epoch     uint64 // 0: not leading (or not ready)
	committed uint64
	wake      chan struct{}

	needs     atomic.Uint64
	published atomic.Uint64
	unknown   atomic.Uint64
}

// Stats are the publisher's counters.
type Stats struct {
	Published uint64 // changes stored in the stream by this worker
	Unknown   uint64 // of them, writes of unknown outcome (the gap subject)
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	return Stats{Published: p.published.Load(), Unknown: p.unknown.Load()}
}

// New returns a publisher of the changes stream changes.
func New(js jetstream.JetStream, changes jetstream.Stream, cfg Config) *Publisher {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, js: js, changes: changes, wake: make(chan struct{}, 1)}
}

// Committed is the leader's hook: in epoch, every log entry up to seq is
// committed (epoch 0: this worker does not lead). It never blocks.
func (p *Publisher) Committed(epoch, seq uint64) {
	p.mu.Lock()
	changed := p.epoch != epoch || p.committed != seq
	p.epoch, p.committed = epoch, seq
	p.mu.Unlock()
	if changed {
		select {
		case p.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

func (p *Publisher) mark() (epoch, committed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.committed
}

// Needs is the first log entry the feed has not published yet, 0 if not
// known (not leading, or the position not read yet): the leader keeps
// the log from there on.
func (p *Publisher) Needs() uint64 { return p.needs.Load() }

// Run publishes while the worker leads, until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	retry := 100 * time.Millisecond
	for {
		epoch, _ := p.mark()
		if epoch == 0 {
			p.needs.Store(0)
			select {
			case <-ctx.Done():
				return nil
			case <-p.wake:
				continue
			}
		}
		err := p.term(ctx, epoch)
		p.needs.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			retry = 100 * time.Millisecond
			continue
		}
		p.cfg.Log.Warn("change feed: publishing stopped; reading its position again", "err", err, "retry_in", retry)
		t := time.NewTimer(retry) // retry pace, not a wait for a condition
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		retry = min(2*retry, 5*time.Second)
	}
}

// errDeposed: the worker no longer leads in the epoch being published.
var errDeposed = errors.New("feed: no longer leading")

// entryBuffer bounds the log entries read ahead of publishing; beyond it
// the consumer's callback blocks, and that is its flow control.
const entryBuffer = 256

// term publishes for one epoch: from the position in the changes stream,
// through the log, as far as it is committed.
func (p *Publisher) term(ctx context.Context, epoch uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cur, last, err := p.position(ctx)
	if err != nil {
		return err
	}
	start := cur.Last.Seq
	if !cur.Started {
		first, err := p.logFirst(ctx)
		if err != nil {
			return err
		}
		start = first
	}
	p.needs.Store(start)
	p.cfg.Log.Info("change feed: publishing", "epoch", epoch, "after", cur.Last.String(), "from_log_seq", start)

	entries := make(chan jetstream.Msg, entryBuffer)
	cons, err := p.js.OrderedConsumer(ctx, p.cfg.Subjects.StreamName(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
	})
	if err != nil {
		return fmt.Errorf("reading the ORDER log from seq %d: %w", start, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case entries <- m:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("reading the ORDER log from seq %d: %w", start, err)
	}
	defer cc.Stop()

	w := &window{js: p.js, stream: p.cfg.Subjects.ChangesStream(), expect: last}
	handled := start - 1 // the last log entry whose changes are handed to w
	settle := func() error {
		n, err := w.settle(ctx)
		p.published.Add(uint64(n))
		if err == nil && handled >= start {
			p.needs.Store(handled + 1)
		}
		return err
	}
	next := start
	for {
		var m jetstream.Msg
		select {
		case m = <-entries:
		default: // nothing read ahead: settle what is out, then wait
			if err := settle(); err != nil {
				return err
			}
		idle:
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-p.wake: // a step-down ends the term at once
					if e, _ := p.mark(); e != epoch {
						return nil
					}
				case m = <-entries:
					break idle
				}
			}
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("a log entry without metadata: %w", err)
		}
		seq := md.Sequence.Stream
		if seq != next && !(next == start && seq > start) {
			return fmt.Errorf("the log consumer delivered seq %d, expected %d", seq, next)
		}
		if seq > next {
			// The log starts past the feed's position (trimmed by a
			// version that did not keep the feed's entries).
			p.cfg.Log.Error("change feed: the log no longer holds entries the feed did not publish; they are missing from the feed",
				"from", next, "to", seq-1)
		}
		next = seq + 1
		if err := p.waitCommitted(ctx, epoch, seq, settle); err != nil {
			if errors.Is(err, errDeposed) || ctx.Err() != nil {
				_ = settle()
				return nil
			}
			return err
		}
		var o messages.Order
		if err := messages.Decode(m.Data(), &o); err != nil || o.Seq != seq {
			handled = seq // not an ORDER: every replica skips it too
			continue
		}
		items, err := cur.Select(o, p.cfg.Outcome)
		if err != nil {
			return err
		}
		for _, it := range items {
			if e, _ := p.mark(); e != epoch {
				_ = settle()
				return nil
			}
			if it.Change.Outcome == messages.ChangeUnknown {
				p.unknown.Add(1)
				p.cfg.Log.Warn("change feed: publishing a write of unknown outcome on the gap subject", "seq", o.Seq, "index", it.Change.Index)
			}
			if err := w.add(ctx, p.cfg.Subjects.ChangeLog(it.Token), it.Change); err != nil {
				return err
			}
			if w.full() {
				if err := settle(); err != nil {
					return err
				}
			}
		}
		handled = seq
	}
}

// waitCommitted waits until log entry seq is committed in epoch, settling
// the publishes out meanwhile.
func (p *Publisher) waitCommitted(ctx context.Context, epoch, seq uint64, settle func() error) error {
	settled := false
	for {
		e, c := p.mark()
		if e != epoch {
			return errDeposed
		}
		if c >= seq {
			return nil
		}
		if !settled {
			if err := settle(); err != nil {
				return err
			}
			settled = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.wake:
		}
	}
}

// position reads where the feed stands: the key of the changes stream's
// last message, and that message's stream sequence (the next append
// expects it).
func (p *Publisher) position(ctx context.Context) (Cursor, uint64, error) {
	info, err := p.changes.Info(ctx)
	if err != nil {
		return Cursor{}, 0, fmt.Errorf("reading the changes stream %s: %w", p.cfg.Subjects.ChangesStream(), err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		if last > 0 {
			p.cfg.Log.Warn("change feed: the changes stream is empty (purged?): publishing again from the log's first entry", "stream", p.cfg.Subjects.ChangesStream())
		}
		return Cursor{}, last, nil
	}
	m, err := p.changes.GetMsg(ctx, last)
	if err != nil {
		return Cursor{}, 0, fmt.Errorf("reading the last change (stream seq %d): %w", last, err)
	}
	k, err := KeyOf(m.Header)
	if err != nil {
		return Cursor{}, 0, fmt.Errorf("the last change (stream seq %d): %w", last, err)
	}
	return Cursor{Last: k, Started: true}, last, nil
}

// KeyOf reads a change message's key from its headers.
func KeyOf(h nats.Header) (messages.ChangeKey, error) {
	seq, err1 := strconv.ParseUint(h.Get(messages.HeaderChangeSeq), 10, 64)
	idx, err2 := strconv.ParseUint(h.Get(messages.HeaderChangeIndex), 10, 32)
	if err1 != nil || err2 != nil {
		return messages.ChangeKey{}, fmt.Errorf("feed: a change message without valid %s/%s headers", messages.HeaderChangeSeq, messages.HeaderChangeIndex)
	}
	return messages.ChangeKey{Seq: seq, Index: uint32(idx)}, nil
}

func (p *Publisher) logFirst(ctx context.Context) (uint64, error) {
	st, err := p.js.Stream(ctx, p.cfg.Subjects.StreamName())
	if err != nil {
		return 0, fmt.Errorf("reading the ORDER log: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the ORDER log: %w", err)
	}
	return max(info.State.FirstSeq, 1), nil
}

// window is the publishes in flight, each appended with the expected last
// stream sequence, so the stream holds the changes in order with no other
// publisher's in between. Only the last of a window asks for JetStream's
// acknowledgement: each change expects the one before it stored, so the
// last is stored at its expected seq only if every change before it is,
// in order (a refused, lost or duplicate change fails all after it). The
// others cost the server and the leader no PubAck each (issue 12: about
// a tenth of the ordering layer's CPU went into them).
type window struct {
	js     jetstream.JetStream
	stream string
	expect uint64    // the stream's last seq once everything out is stored
	last   *nats.Msg // the newest change, not yet published
	n      int       // changes added since the last settle
}

// maxWindow bounds the publishes in flight.
const maxWindow = 256

// ackTimeout bounds the wait for a window's acknowledgement.
const ackTimeout = 10 * time.Second

func (w *window) full() bool { return w.n >= maxWindow }

func (w *window) add(_ context.Context, subject string, ch messages.Change) error {
	msg := &nats.Msg{Subject: subject, Header: make(nats.Header, 5)}
	// Canonical names, set as they are (Header.Set would canonicalise
	// each again).
	msg.Header[messages.HeaderChangeSeq] = []string{strconv.FormatUint(ch.Seq, 10)}
	msg.Header[messages.HeaderChangeIndex] = []string{strconv.FormatUint(uint64(ch.Index), 10)}
	msg.Header[jetstream.MsgIDHeader] = []string{ch.Key().String()}
	msg.Header[jetstream.ExpectedLastSeqHeader] = []string{strconv.FormatUint(w.expect, 10)}
	msg.Header[jetstream.ExpectedStreamHeader] = []string{w.stream}
	var err error
	if msg.Data, err = Encode(ch); err != nil {
		return err
	}
	if w.last != nil {
		if err := w.js.Conn().PublishMsg(w.last); err != nil {
			return fmt.Errorf("publishing change %s: %w", w.last.Header.Get(jetstream.MsgIDHeader), err)
		}
	}
	w.last = msg
	w.expect++
	w.n++
	return nil
}

// settle publishes the window's last change, waits for its
// acknowledgement and returns how many changes were stored.
func (w *window) settle(ctx context.Context) (int, error) {
	msg, n := w.last, w.n
	w.last, w.n = nil, 0
	if msg == nil {
		return 0, nil
	}
	id := msg.Header.Get(jetstream.MsgIDHeader)
	fut, err := w.js.PublishMsgAsync(msg)
	if err != nil {
		return 0, fmt.Errorf("publishing change %s: %w", id, err)
	}
	t := time.NewTimer(ackTimeout)
	defer t.Stop()
	select {
	case ack := <-fut.Ok():
		switch {
		case ack.Duplicate:
			return 0, fmt.Errorf("change %s was stored before (a duplicate)", id)
		case ack.Sequence != w.expect:
			return 0, fmt.Errorf("change %s stored at seq %d of %s, expected %d", id, ack.Sequence, w.stream, w.expect)
		}
		return n, nil
	case err := <-fut.Err():
		return 0, fmt.Errorf("the %d changes up to %s not all stored: %w", n, id, err)
	case <-t.C:
		return 0, fmt.Errorf("change %s not acknowledged within %s", id, ackTimeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
