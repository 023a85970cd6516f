package leader

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// Config configures a Node.
type Config struct {
	ID       string
	Subjects messages.Subjects
	// LeaseTTL: how long a silent leader keeps the role.
	LeaseTTL time.Duration
	// Tick: how often liveness is re-evaluated.
	Tick   time.Duration
	Timing Timing
	Lookup Lookup
	// EpochFloor is the highest epoch this worker's replica has applied.
	EpochFloor func() uint64
	Log        *slog.Logger
}

// Node runs a Sequencer on NATS: it campaigns for the lease, and while it
// leads it takes FORWARDs, appends ORDERs, collects ACKs and replies. Every
// worker runs one; at most one leads.
type Node struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger

	events  chan event
	appends chan pendingAppend
	resign  chan struct{}
	// leaseUntil is when our hold on the lease surely ends (unix nanos):
	// past it a paused leader must not append, whatever it believes.
	leaseUntil atomic.Int64

	subs []*nats.Subscription // while leading: forward, ack, status

	// Garbage counts internal messages dropped as undecodable.
	Garbage atomic.Uint64
}

type event struct {
	fwd      *messages.Forward
	accept   string
	ack      *messages.Ack
	hb       *messages.Heartbeat
	appended *appendResult
	lead     *leadInfo
	lost     string
	status   string
}

type appendResult struct {
	epoch, seq uint64
	err        error
}

type leadInfo struct {
	epoch, lastSeq uint64
	lastTS         int64
}

type pendingAppend struct {
	epoch, seq uint64
	fut        jetstream.PubAckFuture
}

// NewNode prepares a node; Run starts it.
func NewNode(nc *nats.Conn, js jetstream.JetStream, stream jetstream.Stream, cfg Config) *Node {
	return &Node{
		cfg: cfg, nc: nc, js: js, stream: stream, log: cfg.Log,
		events:  make(chan event, 1<<16),
		appends: make(chan pendingAppend, 1<<14),
		resign:  make(chan struct{}, 1),
	}
}

// Run campaigns and leads until ctx ends; it then releases the lease.
func (n *Node) Run(ctx context.Context) error {
	hb, err := n.nc.Subscribe(n.cfg.Subjects.Heartbeat(), func(m *nats.Msg) {
		var h messages.Heartbeat
		if n.decode(m, &h) {
			n.events <- event{hb: &h}
		}
	})
	if err != nil {
		return fmt.Errorf("subscribing to heartbeats: %w", err)
	}
	defer hb.Unsubscribe()
	lease, err := OpenLease(ctx, n.js, n.cfg.Subjects.LeaseBucket(), n.cfg.ID, n.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	go n.campaign(ctx, lease)
	go n.awaitAppends(ctx)

	seq := NewSequencer(n.cfg.ID, n.cfg.Timing, n.cfg.Lookup, rand.Reader, time.Now())
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	defer n.unsubscribe()
	for {
		var acts []Action
		now := time.Now()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			acts = seq.Tick(now)
		case ev := <-n.events:
			switch {
			case ev.fwd != nil:
				if seq.IsReady() && now.UnixNano() > n.leaseUntil.Load() {
					acts = seq.StepDown("lease expired before renewal (paused or partitioned)")
				} else {
					acts = seq.Forward(*ev.fwd, ev.accept, now)
				}
			case ev.ack != nil:
				acts = seq.Ack(*ev.ack, now)
			case ev.hb != nil:
				acts = seq.Heartbeat(*ev.hb, now)
			case ev.appended != nil:
				acts = seq.Appended(ev.appended.epoch, ev.appended.seq, ev.appended.err, now)
			case ev.lead != nil:
				if err := n.subscribe(); err != nil {
					n.log.Error("cannot take the leader's subjects", "err", err)
					acts = []Action{StepDown{Reason: err.Error()}}
				} else {
					acts = seq.Lead(ev.lead.epoch, ev.lead.lastSeq, ev.lead.lastTS, now)
				}
			case ev.lost != "":
				acts = seq.StepDown(ev.lost)
			case ev.status != "":
				b, _ := json.Marshal(seq.Status(now))
				_ = n.nc.Publish(ev.status, b)
			}
		}
		n.do(ctx, seq, acts)
	}
}

// do carries out the sequencer's actions.
func (n *Node) do(ctx context.Context, seq *Sequencer, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Append:
			// The other actions (replies to committed writes) still go out
			// when an append cannot: only appends stop with leadership.
			if !seq.Leading() || seq.Epoch() != a.Order.Epoch {
				continue
			}
			if time.Now().UnixNano() > n.leaseUntil.Load() {
				n.do(ctx, seq, seq.StepDown("lease expired before renewal (paused or partitioned)"))
				continue
			}
			msg := nats.NewMsg(n.cfg.Subjects.Order())
			msg.Data = messages.MustEncode(&a.Order)
			fut, err := n.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequence(a.Order.Seq-1), jetstream.WithExpectStream(n.cfg.Subjects.StreamName()))
			if err != nil {
				n.do(ctx, seq, seq.Appended(a.Order.Epoch, a.Order.Seq, err, time.Now()))
				continue
			}
			n.appends <- pendingAppend{epoch: a.Order.Epoch, seq: a.Order.Seq, fut: fut}
		case Accept:
			_ = n.nc.Publish(a.To, messages.MustEncode(&a.Accepted))
		case Respond:
			_ = n.nc.Publish(a.To, a.Reply.Encode())
		case Ready:
			n.log.Info("leader ready", "epoch", a.Epoch, "marker_seq", a.Seq)
		case StepDown:
			n.log.Warn("stepping down", "reason", a.Reason)
			n.unsubscribe()
			select {
			case n.resign <- struct{}{}:
			default:
			}
		case Notice:
			if a.Warn {
				n.log.Warn(a.Msg)
			} else {
				n.log.Info(a.Msg)
			}
		}
	}
}

// awaitAppends reports append results in order (JetStream acknowledges a
// stream's messages from one connection in the order they were sent).
func (n *Node) awaitAppends(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.appends:
			var err error
			select {
			case <-p.fut.Ok():
			case err = <-p.fut.Err():
			case <-ctx.Done():
				return
			}
			n.events <- event{appended: &appendResult{epoch: p.epoch, seq: p.seq, err: err}}
		}
	}
}

// campaign holds the lease: it tries to take it while following and renews
// it while leading, a few times per TTL.
func (n *Node) campaign(ctx context.Context, lease *Lease) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		lease.Release(rctx)
	}()
	every := n.cfg.LeaseTTL / 4
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.resign:
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			lease.Release(rctx)
			cancel()
			n.leaseUntil.Store(0)
		case <-timer.C:
			n.holdLease(ctx, lease)
			timer.Reset(every)
		}
	}
}

func (n *Node) holdLease(ctx context.Context, lease *Lease) {
	rctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL/2)
	defer cancel()
	start := time.Now()
	if lease.held {
		err := lease.Renew(rctx)
		switch {
		case err == nil:
			n.leaseUntil.Store(start.Add(n.cfg.LeaseTTL).UnixNano())
		case errors.Is(err, ErrLeaseLost):
			n.leaseUntil.Store(0)
			n.events <- event{lost: "lease taken by another worker"}
		default:
			n.log.Warn("cannot renew the lease", "err", err)
		}
		return
	}
	rev, won, err := lease.TryAcquire(rctx)
	if err != nil || !won {
		return
	}
	n.leaseUntil.Store(start.Add(n.cfg.LeaseTTL).UnixNano())
	info, err := n.logTail(rctx)
	if err != nil {
		n.log.Warn("won the lease but cannot read the log", "err", err)
		lease.Release(rctx)
		n.leaseUntil.Store(0)
		return
	}
	// The epoch is the lease revision: unique to this acquisition, so no
	// two leaders share an epoch, and a leader that acquired earlier has a
	// lower one (replicas skip its late entries as stale). Only a recreated
	// lease bucket can be behind the log: move its revision past the log's
	// highest epoch (the tail may be a deposed leader's lower one; our own
	// replica knows the highest it applied).
	if n.cfg.EpochFloor != nil {
		info.epoch = max(info.epoch, n.cfg.EpochFloor())
	}
	if rev <= info.epoch {
		n.log.Warn("lease revision is behind the log's epochs (was the lease bucket recreated?); advancing it", "revision", rev, "log_epoch", info.epoch)
		if rev, err = lease.AdvancePast(rctx, info.epoch); err != nil {
			n.log.Warn("cannot advance the lease revision", "err", err)
			lease.Release(rctx)
			n.leaseUntil.Store(0)
			return
		}
	}
	info.epoch = rev
	n.events <- event{lead: info}
}

// logTail reads the last ORDER: its seq, epoch and write timestamp.
func (n *Node) logTail(ctx context.Context) (*leadInfo, error) {
	si, err := n.stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	info := &leadInfo{lastSeq: si.State.LastSeq}
	if info.lastSeq == 0 {
		return info, nil
	}
	raw, err := n.stream.GetMsg(ctx, info.lastSeq)
	if err != nil {
		return nil, err
	}
	var o messages.Order
	if messages.Decode(raw.Data, &o) == nil {
		info.epoch, info.lastTS = o.Epoch, o.LastTimestamp()
	}
	return info, nil
}

func (n *Node) subscribe() error {
	n.unsubscribe()
	subj := n.cfg.Subjects
	add := func(s string, cb nats.MsgHandler) error {
		sub, err := n.nc.Subscribe(s, cb)
		if err == nil {
			n.subs = append(n.subs, sub)
		}
		return err
	}
	return errors.Join(
		add(subj.Forward(), func(m *nats.Msg) {
			var f messages.Forward
			if n.decode(m, &f) {
				n.events <- event{fwd: &f, accept: m.Reply}
			}
		}),
		add(subj.Ack(), func(m *nats.Msg) {
			var a messages.Ack
			if n.decode(m, &a) {
				n.events <- event{ack: &a}
			}
		}),
		add(subj.Status(), func(m *nats.Msg) {
			if m.Reply != "" {
				n.events <- event{status: m.Reply}
			}
		}),
	)
}

func (n *Node) unsubscribe() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.subs = nil
}

// decode parses an internal message; garbage is counted, logged and dropped.
func (n *Node) decode(m *nats.Msg, into messages.Message) bool {
	if err := messages.Decode(m.Data, into); err != nil {
		n.Garbage.Add(1)
		n.log.Warn("dropped a malformed internal message", "subject", m.Subject, "err", err)
		return false
	}
	return true
}
