package simulation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// node is one chorus-worker process. It runs the real protocol code —
// leader.Core (lease campaign and Sequencer) with leader.Lease and
// leader.Execute, worker.Replica (the apply loop's decisions) and
// worker.ForwardRetry — and implements only the I/O they ask for, on the
// simulated network, log, lease bucket and keyspace.
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

	// The leader side (leader.Node's state besides the Core).
	core       *leader.Core
	lease      *leader.Lease
	subscribed bool             // to the leader's subjects (forward, ack)
	subGen     int              // bumped by every (un)subscribe
	appends    []*pendingAppend // handed to JetStream, not yet executed
	lastAppend time.Time        // one connection's publishes execute in order
	lastResult time.Time        // and their acks come back in order

	// The replica side (the apply loop's state besides the Replica).
	rep      *worker.Replica
	cursor   uint64 // the consumer's next in-order delivery
	pumping  bool
	held     uint64 // an entry delivered and not taken (the replica was full), 0 if none
	forwards int
	// The accepted writes it watches until they are answered (the real
	// worker.Handovers), and the epoch they were last told of.
	handovers *worker.Handovers
	epochSeen uint64

	// Faults of its store: until then each apply takes slowBy longer, or fails.
	slowUntil, failUntil time.Time
	slowBy               time.Duration

	snapshotSeq uint64 // the newest snapshot it stored (the heartbeat's)
	removed     bool   // stopped after applying its own removal
	restoring   bool   // loading a snapshot before it serves (down meanwhile)

	// Durable: the replica's keyspace.
	ks *keyspace
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

// keyspace is what a worker's keyspace holds durably. Writes are recorded
// atomically with the applied sequence, its epoch and their request ids
// (store.Cassandra.Apply); markers and skipped entries are not recorded, so
// after a restart they are processed again.
type keyspace struct {
	gen     string
	ts      int64 // the write timestamp of its progress record
	applied uint64
	epoch   uint64
	record  map[string]messages.Outcome // the exactly-once record (Lookup)
	history []appliedWrite
	members map[string]messages.Member
}

// newKeyspace is a new, empty keyspace with a generation of its own.
func (s *Sim) newKeyspace() *keyspace {
	return &keyspace{gen: fmt.Sprintf("g%04x", s.rng.IntN(1<<16)), record: map[string]messages.Outcome{}, members: map[string]messages.Member{}}
}

// membersList is the keyspace's members, sorted.
func (k *keyspace) membersList() []messages.Member {
	out := make([]messages.Member, 0, len(k.members))
	for _, m := range k.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b messages.Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// snapshot is a complete snapshot in the bucket: a copy of a keyspace at
// seq (store.Cassandra.Export, snapshot.Store.Put).
type snapshot struct {
	seq, epoch uint64
	ts         int64 // of the snapshot's ORDER
	by         string
	ks         *keyspace
}

func (k *keyspace) clone() *keyspace {
	c := &keyspace{gen: k.gen, ts: k.ts, applied: k.applied, epoch: k.epoch, record: maps.Clone(k.record),
		history: slices.Clone(k.history), members: maps.Clone(k.members)}
	return c
}

// latest is the newest complete snapshot (seq 0 if none).
func (s *Sim) latest() snapshot {
	if len(s.bucket) == 0 {
		return snapshot{}
	}
	return s.bucket[len(s.bucket)-1]
}

// appliedWrite is write index of the ORDER at seq.
type appliedWrite struct {
	seq   uint64
	index uint32
	reqID string
}

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
	if n.restoring {
		return
	}
	if snap, ok := n.restorePlan(); ok {
		// The keyspace is emptied (a new generation), then loaded; the
		// worker serves only once that is done. A crash meanwhile leaves
		// it empty, and the next start restores again.
		n.ks = s.newKeyspace()
		n.restoring = true
		gen := n.ks.gen
		s.tracef("%s restores the snapshot at seq %d (by %s)", n.id, snap.seq, snap.by)
		s.after(s.jitter(time.Millisecond, time.Second), func() {
			n.restoring = false
			if !s.healed && s.rng.IntN(4) == 0 {
				s.tracef("FAULT %s crashes during its restore", n.id)
				s.count("crash during restore")
				s.after(s.jitter(100*time.Millisecond, time.Second), n.start)
				return
			}
			// Import, then Adopt: the keyspace continues after the snapshot's
			// seq, at its ORDER's timestamp.
			n.ks = snap.ks.clone()
			n.ks.gen, n.ks.applied, n.ks.epoch, n.ks.ts = gen, snap.seq, snap.epoch, snap.ts
			s.count("restore")
			n.boot()
		})
		return
	}
	n.boot()
}

// boot runs the process on its keyspace.
func (n *node) boot() {
	s := n.s
	n.down, n.paused, n.frozen = false, false, nil
	n.partitioned, n.outbox = false, nil
	n.core = leader.NewCore(leader.CoreConfig{
		ID: n.id, LeaseTTL: leaseTTL,
		Timing: leader.Timing{HeartbeatTimeout: heartbeatTimeout, AckTimeout: ackTimeout, CatchUpTimeout: catchUpTimeout},
		Lookup: n.lookup, EpochFloor: func() uint64 { return n.rep.Epoch() }, Rand: rngReader{s.rng},
		Policy: leader.Policy{SnapshotEvery: s.cfg.SnapshotEvery, Retain: s.cfg.Retain, SnapshotTimeout: snapshotTimeout,
			Roster: func() []messages.Member { return n.rep.Members() }, TimestampFloor: func() int64 { return n.rep.MaxTimestamp() }},
	}, n.clock())
	n.lease = leader.NewLease(nodeKV{n}, fmt.Sprintf("%s/%d", n.id, n.inc))
	n.subscribed = false
	n.subGen++
	n.appends = nil
	n.lastAppend, n.lastResult = s.now, s.now
	rc := worker.DefaultReplicaConfig(n.id)
	rc.MaxHeld, rc.MaxWrites, rc.StallAfter, rc.Gen = s.cfg.MaxHeld, maxApplyWrites, stallAfter, n.ks.gen
	n.rep = worker.NewReplica(rc, n.ks.applied, n.ks.epoch, n.clock())
	n.rep.SetMembers(n.ks.membersList())
	n.rep.SetTimestampFloor(n.ks.ts)
	n.snapshotSeq = 0
	n.cursor, n.pumping, n.held = n.rep.Next(), false, 0
	n.handovers, n.epochSeen = worker.NewHandovers(forwardTimeout, worker.MaxHandovers), 0
	s.tracef("%s starts: keyspace at seq %d epoch %d", n.id, n.ks.applied, n.ks.epoch)
	n.wake()
	s.on(n, 0, n.heartbeat)
	s.on(n, 0, n.tick)
	s.on(n, replicaTick, n.replicaTick)
}

// restorePlan is worker.restorePlan: a keyspace that is new, or behind the
// log's first entry, loads the newest snapshot (emptied first, with a new
// generation: Snapshotter.Reset), then continues from the log.
func (n *node) restorePlan() (snapshot, bool) {
	s := n.s
	snap := s.latest()
	last := uint64(len(s.log))
	behind := n.ks.applied < last && s.first > n.ks.applied+1
	if snap.seq == 0 || (n.ks.applied > 0 && !behind) || n.ks.applied >= snap.seq {
		if behind {
			s.fail("%s is behind the log (applied %d, log starts at %d) and no snapshot can restore it", n.id, n.ks.applied, s.first)
		}
		return snapshot{}, false
	}
	if snap.seq+1 < s.first {
		s.fail("the newest snapshot (seq %d) is older than the log's first entry (%d)", snap.seq, s.first)
		return snapshot{}, false
	}
	return snap, true
}

// clock is this machine's clock: what time.Now() returns there. Only the
// lease bucket (the NATS server) keeps the true time.
func (n *node) clock() time.Time { return n.s.now.Add(n.skew) }

// lookup is the Sequencer's view of its own replica's exactly-once record.
func (n *node) lookup(id string) (messages.Outcome, bool) {
	o, ok := n.ks.record[id]
	return o, ok
}

// crash loses everything volatile; the keyspace, the log and the lease key
// (until its TTL) survive.
func (n *node) crash() {
	s := n.s
	s.tracef("FAULT %s crashes", n.id)
	if !n.paused { // a paused process sends nothing more: pause flushed already
		n.flushSome()
	}
	for _, pa := range n.appends {
		if !pa.wire {
			pa.lost = true
			s.inflight--
		}
	}
	n.down, n.paused, n.frozen = true, false, nil
	n.partitioned, n.outbox = false, nil
	n.inc++
	n.core, n.lease, n.rep, n.appends = nil, nil, nil, nil
	n.subscribed = false
	n.subGen++
	n.slowUntil, n.failUntil = time.Time{}, time.Time{}
}

// pause freezes the process (a long GC pause, SIGSTOP, a VM migration):
// its timers stop, what it receives waits, its lease runs out.
func (n *node) pause() {
	n.s.tracef("FAULT %s pauses (leading=%v)", n.id, n.core.Sequencer().Leading())
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
	n.s.tracef("FAULT %s is cut off from NATS (leading=%v)", n.id, n.core.Sequencer().Leading())
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

// ---- the leader side: leader.Env on the model ----

// do carries out the Core's actions with the real leader.Execute.
func (n *node) do(acts []leader.Action) { leader.Execute(n, acts) }

func (n *node) tick() {
	n.s.on(n, sequencerTick, n.tick)
	n.do(n.core.Tick(n.clock()))
}

// Append hands an ORDER to JetStream with expected last sequence Seq-1.
func (n *node) Append(o messages.Order) {
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
	s.schedule(&event{at: at, node: n, inc: pa.inc, fn: func() { n.do(n.core.Appended(epoch, seq, err, n.clock())) }})
}

// Lease runs the real leader.Lease operation against the lease bucket
// after a round trip; its result comes back after another. Cut off from
// NATS, the bucket and the stream do not answer (nodeKV, nodeTail).
func (n *node) Lease(op leader.LeaseOp) {
	s := n.s
	s.on(n, s.delay(), func() {
		res := n.lease.Do(context.Background(), op, nodeTail{n})
		if op.Op == leader.OpAcquire && res.Won {
			s.tracef("%s acquired the lease at rev %d", n.id, res.Rev)
		}
		if res.Lost {
			s.tracef("%s lost the lease", n.id)
		}
		s.on(n, s.delay(), func() { n.do(n.core.LeaseDone(res, n.clock())) })
	})
}

// Trim purges the log below keepFrom after a round trip to the stream.
// It checks first what no trim may do: remove entries a current member has
// not applied, or that the newest complete snapshot does not cover.
func (n *node) Trim(keepFrom uint64) {
	s := n.s
	decidedAt := uint64(len(s.log)) // what the leader could know of when it decided
	s.on(n, s.delay(), func() {
		var err error
		if n.partitioned {
			err = errUnreachable
		} else {
			s.checkTrim(n, keepFrom, decidedAt)
			if keepFrom > s.first {
				s.first = keepFrom
				s.tracef("%s trims the log: it now starts at seq %d", n.id, s.first)
				s.count("trim")
				if !s.healed && s.rng.IntN(6) == 0 {
					victim := s.nodes[s.rng.IntN(len(s.nodes))]
					if !victim.down {
						s.count("crash right after a trim")
						victim.crash()
						s.after(s.jitter(200*time.Millisecond, 3*time.Second), func() {
							if !s.healed && victim.down {
								victim.start()
							}
						})
					}
				}
			}
		}
		first := s.first
		s.on(n, s.delay(), func() { n.do(n.core.Trimmed(first, err, n.clock())) })
	})
}

// Accept answers a forwarding worker.
func (n *node) Accept(to string, a messages.Accepted) {
	n.emit(func() { n.s.accepted(to, a) })
}

// Respond answers a client.
func (n *node) Respond(to string, r messages.Reply) { n.s.respond(n, to, r) }

// Status: nobody asks in the simulation.
func (n *node) Status(string, messages.Status) {}

// Subscribe takes the leader's subjects. nats.go subscribes locally even
// while disconnected, so it never fails here.
func (n *node) Subscribe() {
	n.subscribed = true
	n.subGen++
	if n.rep.Applied()+8 < uint64(len(n.s.log)) {
		n.s.tracef("%s leads with its replica far behind: applied %d of %d", n.id, n.rep.Applied(), len(n.s.log))
		n.s.count("won the lease far behind")
	}
}

// Unsubscribe leaves the leader's subjects.
func (n *node) Unsubscribe() {
	if n.subscribed {
		n.subscribed = false
		n.subGen++
	}
}

// Log traces what the Core reports, and checks a leader's readiness.
func (n *node) Log(a leader.Action) {
	s := n.s
	switch a := a.(type) {
	case leader.Ready:
		s.tracef("%s ready: epoch %d marker seq %d", n.id, a.Epoch, a.Seq)
		s.checkReady(n, a)
	case leader.StepDown:
		s.tracef("%s steps down: %s", n.id, a.Reason)
		if a.HoldFor > 0 {
			s.count("lagging leader gave up")
		}
	case leader.Notice:
		s.debugf("%s notice: %s", n.id, a.Msg)
	}
}

// nodeKV is the lease bucket as node n reaches it.
type nodeKV struct{ n *node }

var errUnreachable = errors.New("nats: timeout")

func (k nodeKV) Create(_ context.Context, _ string, value []byte) (uint64, error) {
	if k.n.partitioned {
		return 0, errUnreachable
	}
	return k.n.s.kv.create(k.n.s.now, string(value))
}

func (k nodeKV) Get(context.Context, string) ([]byte, uint64, error) {
	if k.n.partitioned {
		return nil, 0, errUnreachable
	}
	return k.n.s.kv.get(k.n.s.now)
}

func (k nodeKV) Update(_ context.Context, _ string, value []byte, rev uint64) (uint64, error) {
	if k.n.partitioned {
		return 0, errUnreachable
	}
	return k.n.s.kv.update(k.n.s.now, string(value), rev)
}

func (k nodeKV) Delete(_ context.Context, _ string, rev uint64) error {
	if k.n.partitioned {
		return errUnreachable
	}
	return k.n.s.kv.del(k.n.s.now, rev)
}

// nodeTail is the log's tail as node n reads it.
type nodeTail struct{ n *node }

func (t nodeTail) Tail(context.Context) (leader.Tail, error) {
	if t.n.partitioned {
		return leader.Tail{}, errUnreachable
	}
	return t.n.s.tail(), nil
}

var _ leader.Env = (*node)(nil)

// ---- the replica side: the apply loop on the model ----

// heartbeat tells every node's Core how far this replica has applied.
func (n *node) heartbeat() {
	s := n.s
	s.on(n, heartbeatInterval, n.heartbeat)
	hb := messages.Heartbeat{Worker: n.id, Applied: n.rep.Applied(), Epoch: n.rep.Epoch(), Stalled: n.rep.Stalled(),
		Gen: n.ks.gen, Snapshot: n.snapshotSeq, Durable: n.ks.applied}
	n.emit(func() {
		for _, m := range s.nodes {
			s.sendTo(m, false, "heartbeat", func() { m.do(m.core.Heartbeat(hb, m.clock())) })
		}
	})
}

func (n *node) replicaTick() {
	s := n.s
	s.on(n, replicaTick, n.replicaTick)
	if !n.partitioned { // worker.readBounds: the stream's info
		if n.doReplica(n.rep.LogBounds(s.first, uint64(len(s.log)), n.clock())); n.down {
			return
		}
	}
	n.doReplica(n.rep.Tick(n.clock()))
}

// wake makes the consumer deliver if the log has entries it has not yet
// delivered and the replica takes them.
func (n *node) wake() {
	if n.down || n.partitioned || n.pumping || n.held != 0 || n.cursor > uint64(len(n.s.log)) {
		return
	}
	n.pumping = true
	n.s.on(n, n.s.delay(), n.pump)
}

// pump is the consumer delivering log entries: mostly the next few in
// order; sometimes a burst of everything up to the log's end (a consumer
// far ahead of the apply, which the Replica must push back on), an entry
// already delivered, or a jump ahead that leaves a gap (the Replica must
// read the log again from where it is).
func (n *node) pump() {
	s := n.s
	n.pumping = false
	if n.partitioned {
		return // the consumer gets nothing; reconnect wakes it
	}
	last := uint64(len(s.log))
	if n.cursor < s.first { // trimmed: the consumer starts at the log's first entry
		n.cursor = s.first
	}
	k := 1 + s.rng.IntN(4)
	if s.rng.IntN(8) == 0 {
		k = int(last) // a burst
	}
	for ; k > 0 && n.cursor <= last && n.held == 0 && !n.down; k-- {
		seq := n.cursor
		switch r := s.rng.IntN(40); {
		case r < 2 && n.cursor > s.first:
			seq = n.cursor - 1 - uint64(s.rng.IntN(int(min(3, n.cursor-s.first)))) // redelivered
		case r < 3 && n.cursor < last:
			seq = n.cursor + 1 + uint64(s.rng.IntN(int(min(3, last-n.cursor)))) // a gap
			s.debugf("%s's consumer skips to seq %d (next due %d)", n.id, seq, n.cursor)
			n.cursor = seq + 1
		default:
			n.cursor++
		}
		n.deliver(seq)
	}
	if !n.down {
		n.wake()
	}
}

// deliver hands log entry seq to the Replica; one it does not take waits
// in held, and the consumer with it.
func (n *node) deliver(seq uint64) {
	s := n.s
	taken, acts := n.rep.Deliver(seq, s.log[seq-1].data, uint64(len(s.log))-seq, n.clock())
	if !taken {
		n.held = seq
		s.debugf("%s is full: seq %d waits", n.id, seq)
		s.count("replica full")
	}
	n.doReplica(acts)
}

// maxApplyWrites bounds a run, small here so that runs end mid-log too.
const maxApplyWrites = 8

// doReplica carries out the Replica's actions, as Worker.applyLoop does.
func (n *node) doReplica(acts []worker.ReplicaAction) {
	s := n.s
	for _, a := range acts {
		switch a := a.(type) {
		case worker.ApplyRun:
			n.apply(a)
		case worker.TakeSnapshot:
			n.takeSnapshot(a)
		case worker.Behind:
			// worker.replicate: the apply loop stops, the keyspace is
			// restored from the newest snapshot, the loop starts again
			// (modelled as a restart of the process).
			s.tracef("%s is behind the log (first %d, applied %d): restoring", n.id, a.First, a.Applied)
			s.count("behind the log")
			n.crash()
			s.after(s.jitter(time.Millisecond, 100*time.Millisecond), func() {
				if n.down {
					n.start()
				}
			})
			return
		case worker.Removed:
			s.tracef("%s stops: %s", n.id, a.Reason)
			s.count("member removed")
			n.crash()
			n.removed = true
			if s.healed { // the operator brings it back with a new keyspace
				s.after(s.jitter(100*time.Millisecond, time.Second), func() {
					n.ks, n.removed = s.newKeyspace(), false
					n.start()
				})
			}
			return
		case worker.SendAck:
			ack := a.Ack
			ack.Gen = n.ks.gen
			what := fmt.Sprintf("ack of %s for seq %d", n.id, ack.Applied)
			n.emit(func() {
				for _, l := range s.leaders() {
					s.sendTo(l, true, what, func() { l.do(l.core.Ack(ack, l.clock())) })
				}
			})
		case worker.RestartConsumer:
			s.debugf("%s restarts its consumer at seq %d: %s", n.id, a.From, a.Reason)
			s.count("consumer restart")
			n.cursor, n.held = a.From, 0
			n.wake()
		case worker.ReplicaNotice:
			s.debugf("%s: %s", n.id, a.Msg)
		}
	}
}

// apply is the store call of one run: it lands in the keyspace atomically
// after a while (longer while the store is slow), and its result comes
// back after that, unless the process died meanwhile (then the keyspace
// may be ahead of what the process knew, as after a timed-out batch).
func (n *node) apply(run worker.ApplyRun) {
	s := n.s
	for _, st := range run.Steps {
		s.observeStep(n, st)
	}
	d := s.jitter(0, 2*time.Millisecond)
	if s.now.Before(n.slowUntil) {
		d += n.slowBy
	}
	s.on(n, d, func() {
		if len(run.Orders) > 0 && (s.now.Before(n.failUntil) || n == s.broken) {
			s.debugf("%s's store fails seq %d", n.id, run.Steps[0].Seq)
			n.stored(nil, errors.New("store: cassandra unavailable: timeout"))
			return
		}
		var outs [][]messages.Outcome
		for _, o := range run.Orders {
			outs = append(outs, n.ks.apply(s, n.id, o))
		}
		s.on(n, s.jitter(0, time.Millisecond), func() { n.stored(outs, nil) })
	})
}

func (n *node) stored(outs [][]messages.Outcome, err error) {
	n.doReplica(n.rep.Stored(outs, err, n.clock()))
	if n.down { // it stopped: removed from the cluster
		return
	}
	if e := n.rep.Epoch(); e > n.epochSeen { // as Worker.applyLoop does
		n.epochSeen = e
		n.forwardAgain(n.handovers.Superseded(e, n.clock()))
	}
	if seq := n.held; seq != 0 {
		n.held = 0
		n.deliver(seq)
	}
	n.wake()
}

// apply is store.Cassandra.Apply for one ORDER: every write applied and
// recorded with its outcome, atomically with the progress record; an ORDER
// already applied gets its recorded outcomes.
func (k *keyspace) apply(s *Sim, id string, o messages.Order) []messages.Outcome {
	outs := make([]messages.Outcome, len(o.Writes))
	if o.Kind == messages.OrderMember {
		if o.Seq > k.applied {
			ch := o.Member
			k.members[ch.ID] = messages.Member{ID: ch.ID, Gen: ch.Gen, Removed: ch.Op == messages.MemberRemove, Seq: o.Seq}
			k.applied, k.epoch, k.ts = o.Seq, o.Epoch, o.Timestamp
		}
		return outs
	}
	for i, w := range o.Writes {
		out := messages.Outcome{Seq: o.Seq, Index: uint32(i)}
		if o.Seq <= k.applied {
			outs[i] = k.record[w.RequestID]
			continue
		}
		if prev, ok := k.record[w.RequestID]; ok {
			s.fail("%s applies %s again at seq %d.%d: already applied at seq %d.%d", id, w.RequestID, o.Seq, i, prev.Seq, prev.Index)
		}
		k.record[w.RequestID] = out
		k.history = append(k.history, appliedWrite{o.Seq, uint32(i), w.RequestID})
		outs[i] = out
	}
	if o.Seq > k.applied {
		k.applied, k.epoch, k.ts = o.Seq, o.Epoch, o.LastTimestamp()
	}
	s.debugf("%s applies seq %d %s", id, o.Seq, kindOf(o))
	return outs
}

// takeSnapshot is worker.exportSnapshot: the keyspace is read as it is
// now (the replica applies nothing meanwhile), after a while the apply
// loop resumes, and after another the snapshot is complete in the bucket
// — unless the process dies first, and then there is none.
func (n *node) takeSnapshot(a worker.TakeSnapshot) {
	s := n.s
	copy := n.ks.clone()
	s.checkSnapshot(n, a.Seq, copy)
	s.on(n, s.jitter(time.Millisecond, 300*time.Millisecond), func() {
		n.doReplica(n.rep.SnapshotDone(a.Seq, nil, n.clock()))
		n.wake()
		s.on(n, s.jitter(time.Millisecond, time.Second), func() {
			s.bucket = append(s.bucket, snapshot{seq: a.Seq, epoch: a.Epoch, ts: a.Timestamp, by: n.id, ks: copy})
			slices.SortFunc(s.bucket, func(x, y snapshot) int { return int(x.seq) - int(y.seq) })
			if len(s.bucket) > snapshotKeep {
				s.bucket = s.bucket[len(s.bucket)-snapshotKeep:]
			}
			n.snapshotSeq = max(n.snapshotSeq, a.Seq)
			s.tracef("%s stored a snapshot at seq %d", n.id, a.Seq)
			s.count("snapshot")
		})
	})
}

// ---- request handling: forwarding a client's write ----

// forwardOp is one Worker.forward call under the real worker.ForwardRetry.
type forwardOp struct {
	f      messages.Forward
	n      *node
	id     int
	policy *worker.ForwardRetry
	try    int
	done   bool
	again  bool // a write handed over again (Worker.handOverAgain)
}

// onRequest is a client's write reaching this worker.
func (n *node) onRequest(reqID, stmt, reply string) {
	n.forwards++
	op := &forwardOp{
		f: messages.Forward{RequestID: reqID, Reply: reply, Stmt: stmt, Origin: n.id},
		n: n, id: n.forwards, policy: worker.NewForwardRetry(n.clock(), forwardTimeout),
	}
	n.s.debugf("%s got %s from %s", n.id, reqID, reply)
	n.tryForward(op)
}

func (n *node) tryForward(op *forwardOp) {
	s := n.s
	d, ok := op.policy.Attempt(n.clock())
	if !ok {
		n.unavailable(op)
		return
	}
	op.try++
	try := op.try
	if len(s.leaders()) == 0 && !n.partitioned { // nats.ErrNoResponders, at once
		s.on(n, op.policy.Failed(true), func() { n.tryForward(op) })
		return
	}
	accept := fmt.Sprintf("_INBOX.%s.%d.%d.%d", n.id, n.inc, op.id, try)
	s.inboxes[accept] = inbox{fwd: op, n: n, inc: n.inc, try: try}
	f := op.f
	n.emit(func() {
		for _, l := range s.leaders() {
			s.sendTo(l, true, "forward of "+f.RequestID, func() { l.do(l.core.Forward(f, accept, l.clock())) })
		}
	})
	s.on(n, d, func() {
		if op.done || op.try != try {
			return
		}
		s.on(n, op.policy.Failed(false), func() { n.tryForward(op) })
	})
}

// forwardAgain is Worker.handOverAgain: the writes an earlier leader
// accepted and may not have answered go to the current one.
func (n *node) forwardAgain(ws []worker.Handover) {
	for _, h := range ws {
		n.forwards++
		n.s.count("forward again")
		if n.s.handedAgain == nil {
			n.s.handedAgain = map[string]bool{}
		}
		n.s.handedAgain[h.Forward.Reply] = true
		n.s.tracef("%s hands %s over again (accepted at seq %d in epoch %d)", n.id, h.Forward.RequestID, h.Seq, h.Epoch)
		n.tryForward(&forwardOp{f: h.Forward, n: n, id: n.forwards, policy: worker.NewForwardRetry(n.clock(), forwardTimeout), again: true})
	}
}

func (n *node) unavailable(op *forwardOp) {
	op.done = true
	if op.again { // it may have been answered: the client's retry decides
		return
	}
	n.s.respond(n, op.f.Reply, messages.Failure(messages.CodeUnavailable,
		"no leader accepted the write within "+forwardTimeout.String(), n.id, op.f.RequestID))
}

// accepted routes a leader's Accepted to the forwarding worker's attempt.
func (s *Sim) accepted(to string, a messages.Accepted) {
	in, ok := s.inboxes[to]
	if !ok || in.fwd == nil {
		s.fail("Accepted to unknown inbox %q", to)
		return
	}
	op, try := in.fwd, in.try
	if op.n.inc != in.inc {
		return // the forwarding process died: nobody listens
	}
	s.sendTo(op.n, false, "accepted of "+op.f.RequestID, func() {
		if !op.done && op.try == try {
			op.done = true
			s.debugf("%s: %s accepted at seq %d (epoch %d)", op.n.id, op.f.RequestID, a.Seq, a.Epoch)
			if op.f.Reply != "" {
				again, wait := op.n.handovers.Accepted(op.f, a, op.n.clock())
				if wait > 0 {
					s.fail("%s: %d accepted writes watched: the bound %d was reached", op.n.id, op.n.handovers.Len(), worker.MaxHandovers)
				}
				if again {
					op.n.forwardAgain([]worker.Handover{{Forward: op.f, Epoch: a.Epoch, Seq: a.Seq}})
				}
			}
		}
	})
}
