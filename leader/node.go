package leader

import (
	"bytes"
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

	"github.com/chorusdb/chorus/jsassets"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
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
	// LogReplicas: replicas of the lease bucket (CHORUS_LOG_REPLICAS).
	LogReplicas int
	Log         *slog.Logger
	// Metrics counts what the node does (nil: nothing is counted).
	Metrics *metrics.Metrics
	// OnCommit, if set, hears how far the log is committed after every
	// event: (epoch, committed) while this worker leads and is ready,
	// (0, 0) otherwise. It runs on the node's goroutine: it must not
	// block (the change feed's publisher takes it).
	OnCommit func(epoch, committed uint64)
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

	// received holds when each write FORWARDed to this leader arrived,
	// until its reply goes out (the commit latency); owned by Run.
	received map[string]time.Time
	forgotAt time.Time
	view     atomic.Pointer[View]
	// told is what OnCommit last heard.
	told [2]uint64
	// replayed is the sequencer's Replayed count the metrics have.
	replayed uint64
}

// View is the node's state as of its last tick, for metrics and health.
type View struct {
	Leading, Ready bool
	Epoch          uint64
	// Status is the cluster as this worker's sequencer sees it (the
	// members' states are the ACK set's only on the leader).
	Status    messages.Status
	Sequencer SequencerStats
}

// View returns the node's state as of its last tick (zero before Run).
func (n *Node) View() View {
	if v := n.view.Load(); v != nil {
		return *v
	}
	return View{}
}

func (n *Node) publish(core *Core, now time.Time) {
	s := core.Sequencer()
	n.view.Store(&View{Leading: s.Leading(), Ready: s.IsReady(), Epoch: s.Epoch(), Status: s.Status(now), Sequencer: s.Stats()})
}

type event struct {
	fwd      *messages.Forward
	adm      Admission // what the admission check learned about fwd
	at       time.Time // when fwd arrived
	accept   string
	ack      *messages.Ack
	hb       *messages.Heartbeat
	appended *appendResult
	lease    *LeaseResult
	trimmed  *trimResult
	lost     string
	status   string
	admin    *adminRequest
	readIdx  string // a ReadIndex request's inbox
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
	kind       messages.OrderKind
	writes     int
	data       []byte // the ORDER as appended, to find it in the log
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
		received: map[string]time.Time{},
	}
}

// openLease opens the lease bucket, waiting out JetStream being briefly
// unavailable (a NATS cluster electing its meta leader answers 503): a
// worker that stopped then would leave a healthy cluster one replica short.
func (n *Node) openLease(ctx context.Context) (*Lease, error) {
	var lease *Lease
	err := jsassets.Patiently(ctx, n.log, "opening the lease bucket", jsassets.Always, func() (err error) {
		lease, err = OpenLease(ctx, n.js, n.cfg.Subjects.LeaseBucket(), n.cfg.ID, n.cfg.LeaseTTL, n.cfg.LogReplicas, n.log)
		return err
	})
	return lease, err
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
	lease, err := n.openLease(ctx)
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
	if n.cfg.OnCommit != nil {
		defer n.cfg.OnCommit(0, 0)
	}
	Execute(n, core.Tick(time.Now()))
	n.publish(core, time.Now())
	for {
		var ev event
		if len(n.local) > 0 {
			ev, n.local = n.local[0], n.local[1:]
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				now := time.Now()
				Execute(n, core.Tick(now))
				n.tellCommit(core)
				n.publish(core, now)
				n.forget(now)
				continue
			case ev = <-n.events:
			}
		}
		now := time.Now()
		acts := n.step(core, ev, now)
		Execute(n, acts)
		n.tellCommit(core)
		n.countReplays(core)
		for _, a := range acts {
			switch a.(type) {
			case Ready, StepDown: // health follows the role at once
				n.publish(core, now)
			}
		}
	}
}

// tellCommit hands the commit point to OnCommit when it moved.
func (n *Node) tellCommit(core *Core) {
	if n.cfg.OnCommit == nil {
		return
	}
	s := core.Sequencer()
	var now [2]uint64
	if c := s.Committed(); c > 0 {
		now = [2]uint64{s.Epoch(), c}
	}
	if now != n.told {
		n.told = now
		n.cfg.OnCommit(now[0], now[1])
	}
}

// step hands one event to the core.
func (n *Node) step(core *Core, ev event, now time.Time) []Action {
	switch {
	case ev.fwd != nil:
		replayed := core.Sequencer().Stats().Replayed
		acts := core.ForwardAdmitted(*ev.fwd, ev.adm, ev.accept, now)
		n.forwarded(core, ev, core.Sequencer().Stats().Replayed != replayed)
		return acts
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
	case ev.readIdx != "":
		return core.ReadIndex(ev.readIdx, now)
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
			err := n.settle(ctx, p)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				n.cfg.Metrics.Appended(p.kind, p.writes)
			} else {
				n.cfg.Metrics.AppendFailed()
			}
			select {
			case n.events <- event{appended: &appendResult{epoch: p.epoch, seq: p.seq, err: err}}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Bounds of waiting for an append's acknowledgement (settle).
const (
	appendCheckAfter = time.Second
	appendGiveUp     = 10 * time.Second
)

// settle waits for the outcome of an append. On a JetStream cluster an
// append can be stored while its acknowledgement never comes: the stream's
// leader took it, replicated it and died or froze before answering. Past
// appendCheckAfter, or after an error that leaves the outcome open (a
// disconnect, a timeout), settle looks for the entry in the log itself,
// until appendGiveUp. Only the log decides: the entry at seq is this
// ORDER (appended), another one (failed), or none: after the stream has
// said so twice, a second apart, the append is lost (a stream's former
// leader does not store what it took once it follows).
func (n *Node) settle(ctx context.Context, p pendingAppend) error {
	ok, failed := p.fut.Ok(), p.fut.Err()
	check := time.NewTimer(appendCheckAfter)
	defer check.Stop()
	giveUp := time.Now().Add(appendGiveUp)
	var lastErr error
	absent := 0
	for {
		select {
		case <-ok:
			return nil
		case err := <-failed:
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
				return err // refused (e.g. the expected last seq moved), or nobody took it
			}
			ok, failed, lastErr = nil, nil, err
		case <-check.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		gctx, cancel := context.WithTimeout(ctx, appendCheckAfter)
		m, err := n.stream.GetMsg(gctx, p.seq)
		cancel()
		switch {
		case err == nil && bytes.Equal(m.Data, p.data):
			n.log.Info("append acknowledged by the log, not by JetStream's answer", "seq", p.seq)
			return nil
		case err == nil:
			return fmt.Errorf("append of seq %d: the log holds another entry there", p.seq)
		case errors.Is(err, jetstream.ErrMsgNotFound):
			if absent++; absent >= 2 {
				return fmt.Errorf("append of seq %d: not acknowledged, and not in the log", p.seq)
			}
		case lastErr == nil:
			lastErr = err
		}
		if time.Now().After(giveUp) {
			if lastErr == nil {
				lastErr = errors.New("no acknowledgement")
			}
			return fmt.Errorf("append of seq %d: not in the log after %s: %w", p.seq, appendGiveUp, lastErr)
		}
		check.Reset(appendCheckAfter)
	}
}

// Append publishes an ORDER with the expected last sequence (Env).
func (n *Node) Append(o messages.Order) {
	msg := nats.NewMsg(n.cfg.Subjects.Order())
	msg.Data = messages.MustEncode(&o)
	fut, err := n.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequence(o.Seq-1), jetstream.WithExpectStream(n.cfg.Subjects.StreamName()))
	if err != nil {
		n.cfg.Metrics.AppendFailed()
		n.local = append(n.local, event{appended: &appendResult{epoch: o.Epoch, seq: o.Seq, err: err}})
		return
	}
	n.appends <- pendingAppend{epoch: o.Epoch, seq: o.Seq, kind: o.Kind, writes: len(o.Writes), data: msg.Data, fut: fut}
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
func (n *Node) Respond(to string, r messages.Reply) {
	_ = n.nc.Publish(to, r.Encode())
	n.answered(r)
}

// Bounds of the FORWARD arrival times kept for the commit latency: a
// write whose reply never goes out (fire-and-forget, or lost in a
// step-down) is forgotten after receivedTTL.
const (
	receivedMax = 1 << 20
	receivedTTL = 10 * time.Minute
)

// forwarded notes the arrival of a FORWARD, after the sequencer took it,
// for the metrics: a new write starts its commit clock; one the sequencer
// answered from the exactly-once record (replayed) does not. (It looked
// the id up already: a second lookup here cost every write.)
func (n *Node) forwarded(core *Core, ev event, replayed bool) {
	if n.cfg.Metrics == nil || !core.Sequencer().Leading() || ev.fwd.Reply == "" || replayed {
		return
	}
	id := ev.fwd.RequestID
	if _, ok := n.received[id]; ok {
		return // a retry of a write in flight: answered once
	}
	if len(n.received) < receivedMax {
		n.received[id] = ev.at
	}
}

// countReplays counts the retries the sequencer answered from the
// exactly-once record since the last call (those queued while the leader
// started are answered in later steps).
func (n *Node) countReplays(core *Core) {
	r := core.Sequencer().Stats().Replayed
	if r < n.replayed { // a new sequencer's count
		n.replayed = 0
	}
	for ; n.replayed < r; n.replayed++ {
		n.cfg.Metrics.ExactlyOnceHit()
	}
}

// answered counts the reply to a write (client replies to writes carry
// the request id; admin and snapshot replies do not).
func (n *Node) answered(r messages.Reply) {
	if r.RequestID == "" || n.cfg.Metrics == nil {
		return
	}
	at, ok := n.received[r.RequestID]
	if !ok {
		return
	}
	delete(n.received, r.RequestID)
	code := messages.CodeOK
	if r.Status != messages.StatusSuccess {
		code = messages.ParseCode(r.Code)
	}
	n.cfg.Metrics.WriteAnswered(code, at, time.Now())
}

// forget drops arrival times kept too long (see receivedTTL), once a minute.
func (n *Node) forget(now time.Time) {
	if now.Sub(n.forgotAt) < time.Minute {
		return
	}
	n.forgotAt = now
	for id, at := range n.received {
		if now.Sub(at) > receivedTTL {
			delete(n.received, id)
		}
	}
}

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
		n.cfg.Metrics.SteppedDown()
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

// Unsubscribe leaves the leader's subjects (Env). The writes in flight
// are the next leader's now: their commit clocks stop here.
func (n *Node) Unsubscribe() {
	n.unsubscribe()
	clear(n.received)
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
	if err := add(subj.Forward(), func(m *nats.Msg) {
		var f messages.Forward
		if !n.decode(m, &f) {
			return
		}
		if adm, ok := n.admitForward(m, &f); ok {
			n.events <- event{fwd: &f, adm: adm, accept: m.Reply, at: time.Now()}
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
	if err := add(subj.ReadIndex(), n.onReadIndex); err != nil {
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
