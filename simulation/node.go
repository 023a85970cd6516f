package simulation

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// node is one chorus-worker process: its leader.Node (lease campaign,
// Sequencer, appends), its replica (the apply loop over durable state) and
// its request handling (forwarding client writes to the leader).
type node struct {
	s   *Sim
	idx int
	id  string

	// The process.
	down, paused bool
	inc          int      // incarnation, bumped by every crash
	frozen       []*event // what reached it while it was paused
	partitioned  bool     // cut off from NATS: it runs, but nothing gets in or out
	outbox       []func() // what it published meanwhile (nats.go's reconnect buffer)

	skew time.Duration // this machine's clock minus the true time

	// Volatile state of leader.Node.
	seq         *leader.Sequencer
	subscribed  bool // to the leader's subjects (forward, ack)
	subGen      int  // bumped by every (un)subscribe
	lease       leaseClient
	campaigning bool             // holdLease in progress: the campaign goroutine is busy
	resign      bool             // a StepDown the campaign goroutine has yet to see
	appends     []*pendingAppend // handed to JetStream, not yet executed
	lastAppend  time.Time        // one connection's publishes execute in order
	lastResult  time.Time        // and their acks come back in order

	// Volatile state of the replica and the request handlers.
	applier  *worker.Applier
	cursor   uint64 // the consumer's next in-order delivery
	pumping  bool
	forwards int

	// Durable: the replica's keyspace.
	rep *replica
}

// leaseClient is leader.Lease plus Node.leaseUntil.
type leaseClient struct {
	token string // this process's identity in the lease value
	held  bool
	rev   uint64
	until time.Time // past it, the node must not append (leaseUntil)
}

// pendingAppend is an ORDER published with an expected last sequence and
// not yet executed by the stream.
type pendingAppend struct {
	order messages.Order
	data  []byte
	inc   int
	sent  bool // left the process (not in the reconnect buffer)
	wire  bool // already sent: it executes even if the process stops
	lost  bool // still in the process's buffer when it crashed
}

// replica is what a worker's keyspace holds durably. Writes are recorded
// atomically with the applied sequence, its epoch and their request ids
// (store.Cassandra.Apply); markers and skipped entries are not recorded, so
// after a restart they are processed again.
type replica struct {
	applied uint64
	epoch   uint64
	record  map[string]messages.Outcome // the exactly-once record (Lookup)
	history []appliedWrite
}

// appliedWrite is write index of the ORDER at seq.
type appliedWrite struct {
	seq   uint64
	index uint32
	reqID string
}

func newReplica() *replica { return &replica{record: map[string]messages.Outcome{}} }

// rngReader feeds the Sequencer's randomness (cql.Rewrite) from the seed.
type rngReader struct{ r *rand.Rand }

func (g rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(g.r.Uint32())
	}
	return len(p), nil
}

// ---- process lifecycle ----

// start boots the process from its durable state, as worker.New and
// Worker.Run do.
func (n *node) start() {
	s := n.s
	n.down, n.paused, n.frozen = false, false, nil
	n.partitioned, n.outbox = false, nil
	n.seq = leader.NewSequencer(n.id, leader.Timing{HeartbeatTimeout: heartbeatTimeout, AckTimeout: ackTimeout},
		n.lookup, rngReader{s.rng}, n.clock())
	n.subscribed = false
	n.subGen++
	n.lease = leaseClient{token: fmt.Sprintf("%s/%d", n.id, n.inc)}
	n.campaigning, n.resign, n.appends = false, false, nil
	n.lastAppend, n.lastResult = s.now, s.now
	n.applier = worker.NewApplier(n.rep.applied, n.rep.epoch)
	n.cursor, n.pumping = n.rep.applied+1, false
	s.tracef("%s starts: replica at seq %d epoch %d", n.id, n.rep.applied, n.rep.epoch)
	n.wake()
	s.on(n, 0, n.campaign)
	s.on(n, 0, n.heartbeat)
	s.on(n, sequencerTick, n.tick)
}

// clock is this machine's clock: what time.Now() returns there. Only the
// lease bucket (the NATS server) keeps the true time.
func (n *node) clock() time.Time { return n.s.now.Add(n.skew) }

// lookup is the Sequencer's view of its own replica's exactly-once record.
func (n *node) lookup(id string) (messages.Outcome, bool) {
	o, ok := n.rep.record[id]
	return o, ok
}

// crash loses everything volatile; the keyspace, the log and the lease key
// (until its TTL) survive.
func (n *node) crash() {
	s := n.s
	s.tracef("FAULT %s crashes", n.id)
	n.flushSome()
	for _, pa := range n.appends {
		if !pa.wire {
			pa.lost = true
			s.inflight--
		}
	}
	n.down, n.paused, n.frozen = true, false, nil
	n.partitioned, n.outbox = false, nil
	n.inc++
	n.seq, n.applier, n.appends = nil, nil, nil
	n.subscribed = false
	n.subGen++
}

// pause freezes the process (a long GC pause, SIGSTOP, a VM migration):
// its timers stop, what it receives waits, its lease runs out.
func (n *node) pause() {
	n.s.tracef("FAULT %s pauses (leading=%v)", n.id, n.seq.Leading())
	n.flushSome()
	n.paused = true
}

// resume continues the process with its stale state: what waited is
// processed now, in the order it came.
func (n *node) resume() {
	s := n.s
	s.tracef("%s resumes (%d events waited)", n.id, len(n.frozen))
	n.paused = false
	at := s.now
	for _, e := range n.frozen {
		at = at.Add(s.jitter(0, time.Millisecond))
		e.at = at
		s.schedule(e)
	}
	n.frozen = nil
	n.lastAppend, n.lastResult = maxTime(n.lastAppend, at), maxTime(n.lastResult, at)
}

// flushSome: when a process stops, a random prefix of what it published
// has already left it.
func (n *node) flushSome() {
	k := 0
	for k < len(n.appends) && n.appends[k].sent {
		k++
	}
	for _, pa := range n.appends[:n.s.rng.IntN(k+1)] {
		pa.wire = true
	}
}

// partition cuts the process off from NATS: what it publishes waits in
// its reconnect buffer, what is published to it is lost, its KV and stream
// requests fail, and the server drops its subscriptions (no forwards, no
// ACKs reach it, even if it believes it leads).
func (n *node) partition() {
	n.s.tracef("FAULT %s is cut off from NATS (leading=%v)", n.id, n.seq.Leading())
	n.partitioned = true
}

// reconnect: nats.go reconnects, restores the subscriptions and flushes
// its buffer, in order.
func (n *node) reconnect() {
	s := n.s
	s.tracef("%s reconnects to NATS (%d messages buffered)", n.id, len(n.outbox))
	n.partitioned = false
	out := n.outbox
	n.outbox = nil
	for _, fn := range out {
		fn()
	}
	n.wake()
}

// emit publishes through the node's NATS connection.
func (n *node) emit(fn func()) {
	if n.partitioned {
		n.outbox = append(n.outbox, fn)
		return
	}
	fn()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ---- leader.Node ----

// do carries out the Sequencer's actions, as Node.do does.
func (n *node) do(acts []leader.Action) {
	s := n.s
	for _, a := range canonical(acts) {
		switch a := a.(type) {
		case leader.Append:
			if n.clock().After(n.lease.until) {
				n.do(n.seq.StepDown("lease expired before renewal (paused or partitioned)"))
				return
			}
			n.publish(a.Order)
		case leader.Accept:
			n.emit(func() { s.accepted(a) })
		case leader.Respond:
			s.respond(n, a.To, a.Reply)
		case leader.StepDown:
			s.tracef("%s steps down: %s", n.id, a.Reason)
			n.unsubscribe()
			if n.campaigning {
				n.resign = true // handled when holdLease returns
			} else {
				n.release()
			}
		case leader.Ready:
			s.tracef("%s ready: epoch %d marker seq %d", n.id, a.Epoch, a.Seq)
			s.checkReady(n, a)
		case leader.Notice:
			s.debugf("%s notice: %s", n.id, a.Msg)
		}
	}
}

// publish hands an ORDER to JetStream with expected last sequence Seq-1.
func (n *node) publish(o messages.Order) {
	s := n.s
	pa := &pendingAppend{order: o, data: messages.MustEncode(&o), inc: n.inc}
	n.appends = append(n.appends, pa)
	s.inflight++
	s.debugf("%s publishes seq %d epoch %d %s", n.id, o.Seq, o.Epoch, kindOf(o))
	n.emit(func() {
		pa.sent = true
		at := maxTime(s.now.Add(s.delay()), n.lastAppend)
		n.lastAppend = at
		s.schedule(&event{at: at, fn: func() { s.execAppend(n, pa) }})
	})
}

// execAppend is the stream executing one append; its PubAck goes back to
// the publishing process, if it still runs.
func (s *Sim) execAppend(n *node, pa *pendingAppend) {
	if pa.lost {
		return
	}
	if !pa.wire && n.paused {
		n.frozen = append(n.frozen, &event{fn: func() { s.execAppend(n, pa) }})
		return
	}
	s.inflight--
	for i, p := range n.appends {
		if p == pa {
			n.appends = append(n.appends[:i], n.appends[i+1:]...)
			break
		}
	}
	var err error
	switch r := s.rng.Float64(); {
	case s.healed || r >= s.cfg.AppendErr:
		err = s.appendLog(n, pa.order, pa.data)
	case r < s.cfg.AppendErr/2:
		// The stream stored it but the PubAck timed out.
		s.tracef("FAULT the PubAck of %s's append of seq %d times out", n.id, pa.order.Seq)
		if err = s.appendLog(n, pa.order, pa.data); err == nil {
			err = fmt.Errorf("nats: timeout")
		}
	default:
		s.tracef("FAULT the stream is unavailable for %s's append of seq %d", n.id, pa.order.Seq)
		err = fmt.Errorf("nats: no response from stream")
	}
	if n.down || n.inc != pa.inc {
		return
	}
	at := maxTime(s.now.Add(s.delay()), n.lastResult)
	n.lastResult = at
	epoch, seq := pa.order.Epoch, pa.order.Seq
	s.schedule(&event{at: at, node: n, inc: pa.inc, fn: func() { n.do(n.seq.Appended(epoch, seq, err, n.clock())) }})
}

func (n *node) tick() {
	n.s.on(n, sequencerTick, n.tick)
	n.do(n.seq.Tick(n.clock()))
}

// onForward is a FORWARD arriving on the leader's subject.
func (n *node) onForward(f messages.Forward, accept string) {
	if n.seq.IsReady() && n.clock().After(n.lease.until) {
		n.do(n.seq.StepDown("lease expired before renewal (paused or partitioned)"))
		return
	}
	n.do(n.seq.Forward(f, accept, n.clock()))
}

func (n *node) subscribe() {
	n.unsubscribe()
	n.subscribed = true
	n.subGen++
}

func (n *node) unsubscribe() {
	if n.subscribed {
		n.subscribed = false
		n.subGen++
	}
}

// campaign is the campaign goroutine's timer: take the lease while
// following, renew it while holding it.
func (n *node) campaign() {
	n.s.on(n, campaignEvery, n.campaign)
	if !n.campaigning {
		n.holdLease()
	}
}

// holdLease follows Node.holdLease.
func (n *node) holdLease() {
	s := n.s
	start := n.clock()
	if n.partitioned {
		return // the KV request times out: a transient error, the TTL decides
	}
	if n.lease.held {
		if rev, ok := s.kv.update(s.now, n.lease.token, n.lease.rev); ok {
			n.lease.rev, n.lease.until = rev, start.Add(leaseTTL)
			return
		}
		n.lease.held, n.lease.until = false, time.Time{}
		s.tracef("%s lost the lease", n.id)
		s.on(n, s.jitter(0, time.Millisecond), func() { n.do(n.seq.StepDown("lease taken by another worker")) })
		return
	}
	rev, won := n.tryAcquire()
	if !won {
		return
	}
	n.lease.held, n.lease.rev, n.lease.until = true, rev, start.Add(leaseTTL)
	n.campaigning = true
	s.tracef("%s acquired the lease at rev %d", n.id, rev)
	// Reading the log tail is a round trip to the stream; then the lead
	// event queues for the Run loop.
	s.on(n, s.delay(), func() {
		n.campaigning = false
		defer n.resigned()
		if n.partitioned {
			// "won the lease but cannot read the log": release (which
			// cannot reach the bucket either; the TTL will free it).
			s.tracef("%s won the lease but cannot read the log", n.id)
			n.lease.held, n.lease.until = false, time.Time{}
			return
		}
		lastSeq, lastEpoch, lastTS := s.tail()
		if n.applier != nil { // the replica's highest applied epoch (Config.EpochFloor)
			lastEpoch = max(lastEpoch, n.applier.Epoch())
		}
		// The epoch is the lease revision; one behind the log (a recreated
		// bucket) is first renewed past it (Lease.AdvancePast).
		for n.lease.held && n.lease.rev <= lastEpoch {
			if rev, ok := s.kv.update(s.now, n.lease.token, n.lease.rev); ok {
				n.lease.rev = rev
			} else {
				n.release()
			}
		}
		if !n.lease.held {
			n.lease.until = time.Time{}
			return
		}
		epoch := n.lease.rev
		s.on(n, s.jitter(0, time.Millisecond), func() { n.lead(epoch, lastSeq, lastTS) })
	})
}

// resigned: once holdLease returns, the campaign goroutine takes a
// StepDown's resign that came meanwhile (even one meant for an earlier
// term: it then releases the lease just won).
func (n *node) resigned() {
	if n.resign {
		n.resign = false
		n.release()
	}
}

// tryAcquire follows Lease.TryAcquire.
func (n *node) tryAcquire() (uint64, bool) {
	s := n.s
	if rev, ok := s.kv.create(s.now, n.lease.token); ok {
		return rev, true
	}
	if s.kv.live(s.now) && s.kv.value == n.lease.token {
		// Still ours (we stepped down without losing it): a fresh revision.
		return s.kv.update(s.now, n.lease.token, s.kv.rev)
	}
	return 0, false
}

// release gives the lease up (the campaign goroutine on resign). Cut off
// from NATS, the delete does not reach the bucket: the TTL frees the key.
func (n *node) release() {
	if n.lease.held && !n.partitioned {
		n.s.kv.del(n.s.now, n.lease.rev)
	}
	n.lease.held, n.lease.until = false, time.Time{}
}

// lead is the lead event in Node.Run.
func (n *node) lead(epoch, lastSeq uint64, lastTS int64) {
	n.s.tracef("%s leads epoch %d after seq %d", n.id, epoch, lastSeq)
	n.subscribe()
	n.do(n.seq.Lead(epoch, lastSeq, lastTS, n.clock()))
}

// ---- the replica ----

// heartbeat tells every node's sequencer how far this replica has applied.
func (n *node) heartbeat() {
	s := n.s
	s.on(n, heartbeatInterval, n.heartbeat)
	hb := messages.Heartbeat{Worker: n.id, Applied: n.applier.Applied(), Epoch: n.applier.Epoch()}
	n.emit(func() {
		for _, m := range s.nodes {
			s.sendTo(m, false, "heartbeat", func() { m.do(m.seq.Heartbeat(hb, m.clock())) })
		}
	})
}

// wake makes the consumer deliver if the log has entries it has not yet
// delivered in order.
func (n *node) wake() {
	if n.down || n.partitioned || n.pumping || n.cursor > uint64(len(n.s.log)) {
		return
	}
	n.pumping = true
	n.s.on(n, n.s.delay(), n.pump)
}

// pump is the consumer delivering a few log entries: mostly the next in
// order; sometimes one a few positions ahead (reordered) or one already
// delivered (redelivered), which the Applier must hold back or drop. Then
// the apply loop applies what is ready, in runs (Worker.applyLoop).
func (n *node) pump() {
	s := n.s
	n.pumping = false
	if n.partitioned {
		return // the consumer gets nothing; reconnect wakes it
	}
	last := uint64(len(s.log))
	for k := 1 + s.rng.IntN(4); k > 0 && n.cursor <= last; k-- {
		var seq uint64
		switch r := s.rng.IntN(20); {
		case r < 2 && n.cursor > 1:
			seq = n.cursor - 1 - uint64(s.rng.IntN(int(min(3, n.cursor-1))))
		case r < 5 && n.cursor < last:
			seq = n.cursor + 1 + uint64(s.rng.IntN(int(min(3, last-n.cursor))))
		default:
			seq = n.cursor
			n.cursor++
		}
		n.applier.Offer(seq, s.log[seq-1].data)
	}
	for run := n.applier.Run(maxApplyWrites); len(run) > 0; run = n.applier.Run(maxApplyWrites) {
		n.process(run)
		for _, st := range run {
			n.applier.Done(st)
		}
	}
	n.wake()
}

// maxApplyWrites: worker/applyloop.go's bound on a run, small here so that
// runs end mid-log too.
const maxApplyWrites = 8

// process applies a run of steps to the keyspace in one atomic store call
// and ACKs them at once, as Worker.process does.
func (n *node) process(run []worker.Step) {
	s := n.s
	ack := messages.Ack{Worker: n.id, Epoch: n.applier.Epoch(), Applied: run[len(run)-1].Seq}
	var orders []messages.Order
	for _, st := range run {
		s.observeStep(n, st)
		switch st.Kind {
		case worker.StepApply:
			orders = append(orders, st.Order)
		case worker.StepSkip:
			ack.Outcomes = append(ack.Outcomes, st.Outcome)
			s.debugf("%s skips seq %d: %s", n.id, st.Seq, st.Outcome.Error)
		case worker.StepMarker:
			s.debugf("%s passes marker seq %d epoch %d", n.id, st.Seq, st.Order.Epoch)
		}
		if st.Kind != worker.StepSkip {
			ack.Epoch = max(ack.Epoch, st.Order.Epoch)
		}
	}
	for _, o := range orders {
		ack.Outcomes = append(ack.Outcomes, n.rep.apply(s, n.id, o)...)
	}
	what := fmt.Sprintf("ack of %s for seq %d", n.id, ack.Applied)
	n.emit(func() {
		for _, l := range s.leaders() {
			s.sendTo(l, true, what, func() { l.do(l.seq.Ack(ack, l.clock())) })
		}
	})
}

// apply is store.Cassandra.Apply for one ORDER: every write applied and
// recorded with its outcome, atomically with the progress record; an ORDER
// already applied gets its recorded outcomes.
func (r *replica) apply(s *Sim, id string, o messages.Order) []messages.Outcome {
	outs := make([]messages.Outcome, len(o.Writes))
	for i, w := range o.Writes {
		out := messages.Outcome{Seq: o.Seq, Index: uint32(i)}
		if o.Seq <= r.applied {
			outs[i] = r.record[w.RequestID]
			continue
		}
		if prev, ok := r.record[w.RequestID]; ok {
			s.fail("%s applies %s again at seq %d.%d: already applied at seq %d.%d", id, w.RequestID, o.Seq, i, prev.Seq, prev.Index)
		}
		r.record[w.RequestID] = out
		r.history = append(r.history, appliedWrite{o.Seq, uint32(i), w.RequestID})
		outs[i] = out
	}
	if o.Seq > r.applied {
		r.applied, r.epoch = o.Seq, o.Epoch
	}
	s.debugf("%s applies seq %d %s", id, o.Seq, kindOf(o))
	return outs
}

// ---- request handling: forwarding a client's write ----

// forwardOp is one Worker.forward call: it retries under the same request
// id until a leader accepts the write or ForwardTimeout passes.
type forwardOp struct {
	f        messages.Forward
	n        *node
	id       int
	deadline time.Time
	backoff  time.Duration
	try      int
	done     bool
}

// onRequest is a client's write reaching this worker.
func (n *node) onRequest(reqID, stmt, reply string) {
	n.forwards++
	op := &forwardOp{
		f: messages.Forward{RequestID: reqID, Reply: reply, Stmt: stmt, Origin: n.id},
		n: n, id: n.forwards, deadline: n.s.now.Add(forwardTimeout), backoff: forwardBackoff,
	}
	n.s.debugf("%s got %s from %s", n.id, reqID, reply)
	n.tryForward(op)
}

func (n *node) tryForward(op *forwardOp) {
	s := n.s
	op.try++
	try := op.try
	if len(s.leaders()) == 0 && !n.partitioned { // nats.ErrNoResponders
		if s.now.After(op.deadline) {
			n.unavailable(op)
			return
		}
		d := op.backoff
		op.backoff = min(2*d, forwardBackoffMax)
		s.on(n, d, func() { n.tryForward(op) })
		return
	}
	accept := fmt.Sprintf("_INBOX.%s.%d.%d.%d", n.id, n.inc, op.id, try)
	s.inboxes[accept] = inbox{fwd: op, n: n, inc: n.inc, try: try}
	f := op.f
	n.emit(func() {
		for _, l := range s.leaders() {
			s.sendTo(l, true, "forward of "+f.RequestID, func() { l.onForward(f, accept) })
		}
	})
	s.on(n, min(forwardAttempt, op.deadline.Sub(s.now)), func() {
		if op.done || op.try != try {
			return
		}
		// The real clock has moved on by the time the attempt fails, so
		// a deadline reached exactly counts as passed (else: a zero-length
		// attempt, again and again, at one simulated instant).
		if !s.now.Before(op.deadline) {
			n.unavailable(op)
			return
		}
		n.tryForward(op)
	})
}

func (n *node) unavailable(op *forwardOp) {
	op.done = true
	n.s.respond(n, op.f.Reply, messages.Failure(messages.CodeUnavailable,
		"no leader accepted the write within "+forwardTimeout.String(), n.id, op.f.RequestID))
}

// accepted routes a leader's Accepted to the forwarding worker's attempt.
func (s *Sim) accepted(a leader.Accept) {
	in, ok := s.inboxes[a.To]
	if !ok || in.fwd == nil {
		s.fail("Accepted to unknown inbox %q", a.To)
		return
	}
	op, try := in.fwd, in.try
	if op.n.inc != in.inc {
		return // the forwarding process died: nobody listens
	}
	s.sendTo(op.n, false, "accepted of "+op.f.RequestID, func() {
		if !op.done && op.try == try {
			op.done = true
			s.debugf("%s: %s accepted at seq %d (epoch %d)", op.n.id, op.f.RequestID, a.Accepted.Seq, a.Accepted.Epoch)
		}
	})
}
