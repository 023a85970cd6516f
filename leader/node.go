package leader

import (
	"context"
	"crypto/rand"
	"encoding/json"
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
	Policy     Policy
	Snapshots  Snapshots
	Log        *slog.Logger
}

// Node runs a Core on NATS: one goroutine owns the Core and carries out
// its actions; the lease operations and the append results run beside it
// and come back as events. Every worker runs one; at most one leads.
type Node struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger

	events   chan event
	local    []event // results the loop itself produced (a publish that failed at once)
	appends  chan pendingAppend
	leaseOps chan LeaseOp

	subs []*nats.Subscription // while leading: forward, ack, status

	garbage  atomic.Uint64
	rejected atomic.Uint64
}

type event struct {
	fwd      *messages.Forward
	accept   string
	ack      *messages.Ack
	hb       *messages.Heartbeat
	appended *appendResult
	lease    *LeaseResult
	trimmed  *trimResult
	lost     string
	status   string
	admin    *adminRequest
}

type trimResult struct {
	first uint64
	err   error
}

type adminRequest struct {
	op, arg, inbox string
}

type appendResult struct {
	epoch, seq uint64
	err        error
}

type pendingAppend struct {
	epoch, seq uint64
	fut        jetstream.PubAckFuture
}

// Stats are the node's counters.
type Stats struct {
	Garbage  uint64 // internal messages dropped as undecodable
	Rejected uint64 // FORWARDs dropped for failing the admission checks
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats { return Stats{Garbage: n.garbage.Load(), Rejected: n.rejected.Load()} }

// NewNode prepares a node; Run starts it.
func NewNode(nc *nats.Conn, js jetstream.JetStream, stream jetstream.Stream, cfg Config) *Node {
	return &Node{
		cfg: cfg, nc: nc, js: js, stream: stream, log: cfg.Log,
		events:   make(chan event, 1<<16),
		appends:  make(chan pendingAppend, 1<<14),
		leaseOps: make(chan LeaseOp, 1),
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
	go n.leaseLoop(ctx, lease)
	go n.awaitAppends(ctx)

	core := NewCore(CoreConfig{
		ID: n.cfg.ID, LeaseTTL: n.cfg.LeaseTTL, Timing: n.cfg.Timing, Lookup: n.cfg.Lookup,
		EpochFloor: n.cfg.EpochFloor, Rand: rand.Reader, Policy: n.cfg.Policy,
	}, time.Now())
	// The campaign is due every TTL/4: tick often enough to keep it.
	tick := time.NewTicker(min(n.cfg.Tick, n.cfg.LeaseTTL/8))
	defer tick.Stop()
	defer n.unsubscribe()
	Execute(n, core.Tick(time.Now()))
	for {
		var ev event
		if len(n.local) > 0 {
			ev, n.local = n.local[0], n.local[1:]
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				Execute(n, core.Tick(time.Now()))
				continue
			case ev = <-n.events:
			}
		}
		Execute(n, n.step(core, ev, time.Now()))
	}
}

// step hands one event to the core.
func (n *Node) step(core *Core, ev event, now time.Time) []Action {
	switch {
	case ev.fwd != nil:
		return core.Forward(*ev.fwd, ev.accept, now)
	case ev.ack != nil:
		return core.Ack(*ev.ack, now)
	case ev.hb != nil:
		return core.Heartbeat(*ev.hb, now)
	case ev.appended != nil:
		return core.Appended(ev.appended.epoch, ev.appended.seq, ev.appended.err, now)
	case ev.lease != nil:
		return core.LeaseDone(*ev.lease, now)
	case ev.lost != "":
		return core.StepDown(ev.lost, now)
	case ev.status != "":
		return core.Status(ev.status, now)
	case ev.trimmed != nil:
		return core.Trimmed(ev.trimmed.first, ev.trimmed.err, now)
	case ev.admin != nil:
		switch ev.admin.op {
		case AdminRemove:
			return core.Remove(ev.admin.arg, ev.admin.inbox, now)
		case AdminSnapshot:
			return core.Snapshot(ev.admin.inbox, now)
		}
	}
	return nil
}

// Admin operations, on Subjects.Admin(op).
const (
	AdminRemove   = "remove"   // body: the member's id
	AdminSnapshot = "snapshot" // body: empty
)

// Trim purges the log below keepFrom off the loop (Env); the log's new
// first seq comes back as an event.
func (n *Node) Trim(keepFrom uint64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res := &trimResult{}
		if res.err = n.stream.Purge(ctx, jetstream.WithPurgeSequence(keepFrom)); res.err == nil {
			var si *jetstream.StreamInfo
			if si, res.err = n.stream.Info(ctx); res.err == nil {
				res.first = si.State.FirstSeq
			}
		}
		n.events <- event{trimmed: res}
	}()
}

// leaseLoop carries out the core's lease operations one at a time (they
// block on the KV bucket) and releases the lease when the node stops.
func (n *Node) leaseLoop(ctx context.Context, lease *Lease) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		lease.Release(rctx)
	}()
	tail := streamTail{stream: n.stream, snapshots: n.cfg.Snapshots}
	for {
		select {
		case <-ctx.Done():
			return
		case op := <-n.leaseOps:
			octx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL/2)
			res := lease.Do(octx, op, tail)
			cancel()
			select {
			case n.events <- event{lease: &res}:
			case <-ctx.Done():
				return
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
			select {
			case n.events <- event{appended: &appendResult{epoch: p.epoch, seq: p.seq, err: err}}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Append publishes an ORDER with the expected last sequence (Env).
func (n *Node) Append(o messages.Order) {
	msg := nats.NewMsg(n.cfg.Subjects.Order())
	msg.Data = messages.MustEncode(&o)
	fut, err := n.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequence(o.Seq-1), jetstream.WithExpectStream(n.cfg.Subjects.StreamName()))
	if err != nil {
		n.local = append(n.local, event{appended: &appendResult{epoch: o.Epoch, seq: o.Seq, err: err}})
		return
	}
	n.appends <- pendingAppend{epoch: o.Epoch, seq: o.Seq, fut: fut}
}

// Lease hands a lease operation to the lease loop (Env). The core has at
// most one in flight, so this never waits.
func (n *Node) Lease(op LeaseOp) {
	select {
	case n.leaseOps <- op:
	default: // only once the lease loop has stopped with the node
	}
}

// Accept answers a forwarding worker (Env).
func (n *Node) Accept(to string, a messages.Accepted) { _ = n.nc.Publish(to, messages.MustEncode(&a)) }

// Respond answers a client (Env).
func (n *Node) Respond(to string, r messages.Reply) { _ = n.nc.Publish(to, r.Encode()) }

// Status answers a status request (Env).
func (n *Node) Status(to string, st messages.Status) {
	b, _ := json.Marshal(st)
	_ = n.nc.Publish(to, b)
}

// Log records what the core reports (Env).
func (n *Node) Log(a Action) {
	switch a := a.(type) {
	case Ready:
		n.log.Info("leader ready", "epoch", a.Epoch, "marker_seq", a.Seq)
	case StepDown:
		n.log.Warn("stepping down", "reason", a.Reason)
	case Notice:
		if a.Warn {
			n.log.Warn(a.Msg)
		} else {
			n.log.Info(a.Msg)
		}
	}
}

// Subscribe takes the leader's subjects (Env).
func (n *Node) Subscribe() {
	if err := n.subscribe(); err != nil {
		n.log.Error("cannot take the leader's subjects", "err", err)
		n.unsubscribe()
		n.local = append(n.local, event{lost: "cannot take the leader's subjects: " + err.Error()})
	}
}

// Unsubscribe leaves the leader's subjects (Env).
func (n *Node) Unsubscribe() { n.unsubscribe() }

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
	if err := add(subj.Forward(), func(m *nats.Msg) {
		var f messages.Forward
		if n.decode(m, &f) && n.admitForward(m, &f) {
			n.events <- event{fwd: &f, accept: m.Reply}
		}
	}); err != nil {
		return err
	}
	if err := add(subj.Ack(), func(m *nats.Msg) {
		var a messages.Ack
		if n.decode(m, &a) {
			n.events <- event{ack: &a}
		}
	}); err != nil {
		return err
	}
	for _, op := range []string{AdminRemove, AdminSnapshot} {
		if err := add(subj.Admin(op), func(m *nats.Msg) {
			if m.Reply != "" {
				n.events <- event{admin: &adminRequest{op: op, arg: string(m.Data), inbox: m.Reply}}
			}
		}); err != nil {
			return err
		}
	}
	return add(subj.Status(), func(m *nats.Msg) {
		if m.Reply != "" {
			n.events <- event{status: m.Reply}
		}
	})
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
		n.garbage.Add(1)
		n.log.Warn("dropped a malformed internal message", "subject", m.Subject, "err", err)
		return false
	}
	return true
}

var _ Env = (*Node)(nil)
