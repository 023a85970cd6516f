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

// How often the apply loop re-evaluates time (retries, the stall
// watchdog) and reads the log's bounds.
const (
	replicaTick    = 50 * time.Millisecond
	logBoundsEvery = 2 * time.Second
)

// applyLoop runs the Replica on the ORDER log and the store: it consumes
// the log from the entry after the last applied one, applies entries
// strictly in order, one run at a time, and ACKs them. Catch-up after a
// restart is the same path: the consumer simply starts further back.
func (w *Worker) applyLoop(ctx context.Context) error {
	cfg := DefaultReplicaConfig(w.cfg.ID)
	if w.cfg.StallTimeout > 0 {
		cfg.StallAfter = w.cfg.StallTimeout
	}
	cfg.Gen = w.generation()
	cfg.ApplyDeadline = w.cfg.CassandraTimeout
	r := NewReplica(cfg, w.applied.Load(), w.epoch.Load(), time.Now())
	if p := w.replicaStats.Load(); p != nil { // counters never go back
		w.replicaBase = ReplicaStats{Duplicates: p.Duplicates, Skipped: p.Skipped}
	}
	r.SetMembers(w.members)
	r.SetTimestampFloor(w.maxTS.Load())
	rosterVer := r.MembersVersion()
	w.publishRoster(r)
	snapped := make(chan snapshotResult, 1)
	feed := &logFeed{js: w.js, stream: w.subjects.StreamName(), log: w.log}
	defer feed.stop()
	if err := feed.start(ctx, r.Next()); err != nil {
		return err
	}
	applied := make(chan applyResult, 1)
	bounds := make(chan [2]uint64, 1)
	tick := time.NewTicker(replicaTick)
	defer tick.Stop()
	boundsTick := time.NewTicker(logBoundsEvery)
	defer boundsTick.Stop()
	var held jetstream.Msg // delivered, not yet taken: the replica is full
	var epochSeen uint64   // the epoch the watched writes were last told of
	for {
		var in <-chan jetstream.Msg
		if held == nil {
			in = feed.entries
		}
		var acts []ReplicaAction
		now := time.Now()
		select {
		case <-ctx.Done():
			return nil
		case m := <-in:
			acts = w.deliver(r, m, &held, now)
		case res := <-applied:
			if errors.Is(res.err, store.ErrKeyspaceLost) {
				return fmt.Errorf("%w; restart the worker to rebuild it from the log", res.err)
			}
			if res.err == nil {
				if k := len(res.orders); k > 0 { // writes and membership are recorded
					w.durable.Store(res.orders[k-1].Seq)
				}
				for n, o := range res.orders {
					for i, out := range res.outs[n] {
						w.recent.Add(o.Writes[i].RequestID, out, now)
					}
				}
			}
			acts = r.Stored(res.outs, res.err, now)
			if held != nil {
				m := held
				held = nil
				acts = append(acts, w.deliver(r, m, &held, now)...)
			}
		case <-tick.C:
			acts = r.Tick(now)
		case <-boundsTick.C:
			go w.readBounds(ctx, bounds)
		case b := <-bounds:
			acts = r.LogBounds(b[0], b[1], now)
		case res := <-snapped:
			acts = r.SnapshotDone(res.seq, res.err, now)
		}
		for _, a := range acts {
			switch a := a.(type) {
			case ApplyRun:
				if len(a.Orders) == 0 {
					applied <- applyResult{} // at most one run is out: never blocks
					continue
				}
				go w.apply(ctx, a.Orders, applied)
			case SendAck:
				a.Ack.Gen = w.generation()
				_ = w.nc.Publish(w.subjects.Ack(), messages.MustEncode(&a.Ack))
				if v := r.MembersVersion(); v != rosterVer { // rare: a membership change
					rosterVer = v
					w.publishRoster(r)
				}
			case TakeSnapshot:
				w.log.Info("taking a snapshot", "seq", a.Seq)
				go w.exportSnapshot(ctx, a, snapped)
			case Removed:
				w.log.Error(a.Reason)
				return fmt.Errorf("%w: %s", ErrRemoved, a.Reason)
			case Behind:
				return errBehindLog
			case RestartConsumer:
				w.log.Warn("restarting the log consumer", "from", a.From, "why", a.Reason)
				held = nil // the new consumer delivers it again
				if err := feed.start(ctx, a.From); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					w.log.Warn("cannot restart the log consumer; the stall watchdog will try again", "err", err)
				}
			case ReplicaNotice:
				if a.Warn {
					w.log.Warn(a.Msg)
				} else {
					w.log.Info(a.Msg)
				}
			}
		}
		w.applied.Store(r.Applied())
		w.applyWatch.advance(r.Applied())
		if e := r.Epoch(); e > epochSeen {
			epochSeen = e
			if again := w.watched.superseded(e); len(again) > 0 {
				go w.handOverAgain(ctx, again)
			}
		}
		w.epoch.Store(r.Epoch())
		w.maxTS.Store(r.MaxTimestamp())
		st := r.Stats()
		st.Duplicates += w.replicaBase.Duplicates
		st.Skipped += w.replicaBase.Skipped
		w.replicaStats.Store(&st)
		w.known.Store(r.Known())
		if s := r.Stalled(); s != "" {
			w.stalled.Store(&s)
		} else {
			w.stalled.Store(nil)
		}
	}
}

// errBehindLog: the apply loop stops so that the worker restores its
// keyspace from a snapshot and starts the loop again.
var errBehindLog = errors.New("worker: behind the log's first entry")

// publishRoster shares the replica's members with the leader side.
func (w *Worker) publishRoster(r *Replica) {
	ms := r.Members()
	w.rosterNow.Store(&ms)
}

// deliver hands a consumed entry to the replica; one it cannot take yet
// is kept in held.
func (w *Worker) deliver(r *Replica, m jetstream.Msg, held *jetstream.Msg, now time.Time) []ReplicaAction {
	md, err := m.Metadata()
	if err != nil {
		w.log.Warn("log entry without metadata; reading the log again", "err", err)
		return []ReplicaAction{RestartConsumer{From: r.Applied() + 1, Reason: "log entry without metadata"}}
	}
	taken, acts := r.Deliver(md.Sequence.Stream, m.Data(), md.NumPending, now)
	if !taken {
		*held = m
	}
	return acts
}

type applyResult struct {
	orders []messages.Order
	outs   [][]messages.Outcome
	err    error
}

// apply runs one ApplyRun against the store, off the loop's goroutine so
// that entries keep arriving meanwhile (they make the next run).
func (w *Worker) apply(ctx context.Context, orders []messages.Order, done chan<- applyResult) {
	actx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
	start := time.Now()
	outs, err := w.store.Apply(actx, orders)
	took := time.Since(start)
	cancel()
	if ctx.Err() == nil { // not the worker stopping
		writes := 0
		for _, o := range orders {
			writes += len(o.Writes)
		}
		w.metrics.Applied(len(orders), writes, took, err)
	}
	select {
	case done <- applyResult{orders: orders, outs: outs, err: err}:
	case <-ctx.Done():
	}
}

// readBounds reads the log's first and last seq for the replica.
func (w *Worker) readBounds(ctx context.Context, out chan<- [2]uint64) {
	ictx, cancel := context.WithTimeout(ctx, logBoundsEvery)
	defer cancel()
	info, err := w.stream.Info(ictx)
	if err != nil {
		return
	}
	w.logBounds.Store(&logInfo{first: info.State.FirstSeq, last: info.State.LastSeq, bytes: info.State.Bytes})
	select {
	case out <- [2]uint64{info.State.FirstSeq, info.State.LastSeq}:
	default: // the loop has one already
	}
}

// logFeed is the ordered consumer of the ORDER log, restartable at any
// seq. Each start gets a channel of its own, so nothing the previous
// consumer still delivers reaches the loop.
type logFeed struct {
	js      jetstream.JetStream
	stream  string
	log     interface{ Debug(string, ...any) }
	entries chan jetstream.Msg
	cc      jetstream.ConsumeContext
	cancel  context.CancelFunc
}

// feedBuffer is how many delivered entries wait for the loop; beyond it
// the consumer's callback blocks, and that is its flow control.
const feedBuffer = 1024

func (f *logFeed) start(ctx context.Context, from uint64) error {
	f.stop()
	cons, err := f.js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("consuming the ORDER log from seq %d: %w", from, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	entries := make(chan jetstream.Msg, feedBuffer)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select { // hand off; blocking here is flow control for the consumer
		case entries <- m:
		case <-cctx.Done():
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		f.log.Debug("reading the ORDER log", "err", err)
	}))
	if err != nil {
		cancel()
		return fmt.Errorf("consuming the ORDER log from seq %d: %w", from, err)
	}
	f.entries, f.cc, f.cancel = entries, cc, cancel
	return nil
}

func (f *logFeed) stop() {
	if f.cc != nil {
		f.cancel()
		f.cc.Stop()
		f.cc, f.cancel = nil, nil
	}
}
