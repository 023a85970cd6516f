// Package simulation runs the whole Chorus protocol — every worker's
// leader.Sequencer and worker.Applier, the lease, the ORDER log, the
// workers' forwarding and the clients' retries — on a simulated network and
// a simulated clock, driven by one seed. A run injects faults (message
// drops, duplicates, reorders and delays, crashes and restarts, paused
// processes, processes cut off from NATS, expired leases), heals, waits until every client has its reply
// and every replica has applied the whole log, and then checks the DESIGN
// invariants. The same seed replays the same run exactly: no goroutines, no
// real time, one math/rand/v2 PCG for every choice.
//
// The model follows the real wiring (leader/node.go, leader/lease.go,
// worker/applyloop.go, worker/requests.go, client/client.go) and uses the
// shipped timing defaults (worker/config.go).
package simulation

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// Timing of the modelled system: the shipped defaults.
const (
	leaseTTL          = 3 * time.Second         // CHORUS_LEASE_TTL
	campaignEvery     = leaseTTL / 4            // leader/node.go campaign
	heartbeatInterval = 250 * time.Millisecond  // CHORUS_HEARTBEAT_INTERVAL
	sequencerTick     = heartbeatInterval / 2   // worker.New: Tick
	heartbeatTimeout  = 1500 * time.Millisecond // CHORUS_HEARTBEAT_TIMEOUT
	ackTimeout        = 5 * time.Second         // CHORUS_ACK_TIMEOUT
	forwardTimeout    = 15 * time.Second        // CHORUS_FORWARD_TIMEOUT
	clientAttempt     = 5 * time.Second         // client.DefaultAttemptTimeout
	clientBackoff     = 50 * time.Millisecond   // client/options.go minBackoff,
	clientBackoffMax  = time.Second             // doubling up to maxBackoff
	catchUpTimeout    = 2 * time.Second         // CHORUS_CATCHUP_TIMEOUT, short so that it happens
	stallAfter        = time.Second             // CHORUS_STALL_TIMEOUT, likewise
	replicaTick       = 50 * time.Millisecond   // worker/applyloop.go
	snapshotTimeout   = 5 * time.Second         // CHORUS_SNAPSHOT_TIMEOUT, short here
	snapshotKeep      = 3                       // CHORUS_SNAPSHOT_KEEP
)

// Config is the shape of one run; ConfigFor derives it from the seed.
type Config struct {
	Nodes      int
	Clients    int
	Writes     int             // per client
	FaultPhase time.Duration   // faults happen in [0, FaultPhase), then heal
	Drop, Dup  float64         // per message, during the fault phase
	AppendErr  float64         // per append, during the fault phase: its PubAck is an error
	Skew       []time.Duration // per node: its clock minus the true time
	Liveness   time.Duration   // after healing, the run must end within this
	// MaxHeld bounds what each replica holds ahead of its apply (the
	// worker's is 4096; a few here, so consumers run far past it).
	MaxHeld int
	// SnapshotEvery and Retain: the leader's snapshot schedule and what
	// trimming keeps behind the newest snapshot, small so that both
	// happen in short runs.
	SnapshotEvery, Retain uint64
	// Broken: from healing on, one node's store fails every apply for
	// good (a worker that heartbeats and campaigns but cannot apply).
	Broken bool
	// LeaseResets adds a fault beyond crashes, pauses and the network: the
	// lease bucket is deleted and recreated, so revisions start again
	// behind the log's epochs (SIM_LEASE_RESETS=1).
	LeaseResets bool
}

// ConfigFor picks a run's shape from its seed: mostly 3 nodes, every fourth
// seed 5.
func ConfigFor(seed uint64) Config {
	r := rand.New(rand.NewPCG(seed, 0xc0ffee))
	c := Config{
		Nodes:      3,
		Clients:    2 + r.IntN(6),
		Writes:     3 + r.IntN(10),
		FaultPhase: time.Duration(3+r.IntN(15)) * time.Second,
		Drop:       []float64{0, 0.02, 0.1}[r.IntN(3)],
		Dup:        []float64{0, 0.05, 0.2}[r.IntN(3)],
		Liveness:   60 * time.Second,
	}
	if seed%4 == 0 {
		c.Nodes = 5
	}
	c.AppendErr = []float64{0, 0, 0.02}[r.IntN(3)]
	c.MaxHeld = 1 + r.IntN(8)
	c.SnapshotEvery = []uint64{0, 4, 10, 25}[r.IntN(4)]
	c.Broken = r.IntN(6) == 0
	c.Retain = 1 + uint64(r.IntN(6))
	for range c.Nodes {
		// Mostly NTP-close clocks; sometimes one far off.
		d := time.Duration(r.Int64N(int64(20*time.Millisecond))) - 10*time.Millisecond
		if r.IntN(4) == 0 {
			d = time.Duration(r.Int64N(int64(4*time.Second))) - 2*time.Second
		}
		c.Skew = append(c.Skew, d)
	}
	return c
}

func (c Config) String() string {
	return fmt.Sprintf("nodes=%d clients=%d writes/client=%d faults=%s drop=%.2f dup=%.2f append-err=%.2f skew=%v max-held=%d snapshot-every=%d retain=%d broken=%v lease-resets=%v",
		c.Nodes, c.Clients, c.Writes, c.FaultPhase, c.Drop, c.Dup, c.AppendErr, c.Skew, c.MaxHeld, c.SnapshotEvery, c.Retain, c.Broken, c.LeaseResets)
}

// maxSteps bounds a run that neither ends nor fails (a bug of the model).
const maxSteps = 2_000_000

// epoch0 is the simulated clock's start.
var epoch0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Sim is one run.
type Sim struct {
	cfg  Config
	seed uint64
	rng  *rand.Rand
	now  time.Time

	events eventQueue
	nextID uint64
	steps  int

	healed  bool
	healAt  time.Time
	log     []logEntry
	first   uint64     // the log's first seq: entries before it are trimmed
	bucket  []snapshot // complete snapshots, oldest first
	kv      kv
	nodes   []*node
	clients []*client
	inboxes map[string]inbox
	// handedAgain: client inboxes of writes a worker handed over again.
	handedAgain map[string]bool
	tr          *tracer

	// Observations for the invariant checks.
	decided     []decision        // by seq-1: how the first replica processed the entry
	appender    map[uint64]string // epoch -> the one node whose entries carry it
	okReplies   []sentReply       // every SUCCESS reply a leader sent
	lastTS      int64             // the last write timestamp applied so far,
	lastTSAt    messages.Order    // and its ORDER
	inflight    int               // appends issued and not yet executed or lost
	violation   string
	clientsDone int
	counts      map[string]int
	// Read-index probes (reads.go): the highest seq a SUCCESS was sent
	// for, and its value when each probe was sent.
	reads     int
	ackedSeq  uint64
	readFloor map[string]uint64
	leaseCut  map[string]time.Time // node -> when the fault removed its lease key early
	// broken is a node whose store fails from healing on, for good: the
	// others must go on without it, even when it leads or campaigns
	// (Config.Broken).
	broken *node
}

// logEntry is one entry of the ORDER log (a JetStream stream message).
type logEntry struct {
	data  []byte // what the leader published, what replicas are offered
	order messages.Order
}

// stepRec is how a replica processed one log position.
type stepRec struct {
	kind   worker.StepKind
	reqIDs string
	epoch  uint64
}

func (r stepRec) String() string {
	k := [...]string{"apply", "marker", "skip"}[r.kind]
	return fmt.Sprintf("%s(epoch %d [%s])", k, r.epoch, r.reqIDs)
}

type sentReply struct {
	by    string
	reply messages.Reply
}

// New prepares the run for seed.
func New(seed uint64, cfg Config, tr *tracer) *Sim {
	s := &Sim{
		cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now: epoch0, appender: map[uint64]string{}, inboxes: map[string]inbox{}, tr: tr, first: 1, readFloor: map[string]uint64{}, leaseCut: map[string]time.Time{},
	}
	for i := range cfg.Nodes {
		s.nodes = append(s.nodes, &node{s: s, idx: i, id: fmt.Sprintf("s%d", i), down: true, skew: cfg.Skew[i]})
		s.nodes[i].ks = s.newKeyspace()
	}
	for i := range cfg.Clients {
		s.clients = append(s.clients, &client{s: s, id: i, writes: cfg.Writes})
	}
	return s
}

// Run plays the run to its end and returns the first invariant violated,
// "" if none.
func (s *Sim) Run() string {
	s.tracef("config: %s", s.cfg)
	for _, n := range s.nodes {
		n.start()
	}
	for _, c := range s.clients {
		s.after(time.Duration(s.rng.IntN(500))*time.Millisecond, c.next)
	}
	s.after(s.jitter(100*time.Millisecond, 1500*time.Millisecond), s.fault)
	s.after(readProbeEvery, s.readProbe)
	s.after(s.cfg.FaultPhase, s.heal)
	for s.violation == "" {
		if s.healed && s.quiescent() {
			s.tracef("quiescent: log has %d entries", len(s.log))
			s.check()
			break
		}
		if s.healed && s.now.Sub(s.healAt) > s.cfg.Liveness {
			s.fail("liveness: not done %s after healing: %s", s.cfg.Liveness, s.stuck())
			break
		}
		if s.steps > maxSteps {
			s.fail("runaway: %d events without ending: %s", s.steps, s.stuck())
			break
		}
		if s.events.Len() == 0 {
			s.fail("no events left: %s", s.stuck())
			break
		}
		s.step()
	}
	return s.violation
}

func (s *Sim) fail(format string, args ...any) {
	if s.violation == "" {
		s.violation = fmt.Sprintf(format, args...)
		s.tracef("VIOLATION: %s", s.violation)
	}
}

// quiescent: every client has all its replies, every node runs and has
// applied the whole log, and no append is still on its way.
func (s *Sim) quiescent() bool {
	if s.clientsDone < len(s.clients) || s.inflight > 0 {
		return false
	}
	for _, n := range s.nodes {
		if n == s.broken {
			continue
		}
		if n.down || n.paused || n.rep.Applied() != uint64(len(s.log)) {
			return false
		}
	}
	return true
}

// stuck describes why a run has not ended, for a liveness failure.
func (s *Sim) stuck() string {
	var b strings.Builder
	fmt.Fprintf(&b, "log %d entries, %d appends in flight; ", len(s.log), s.inflight)
	for _, c := range s.clients {
		if c.cur != nil {
			fmt.Fprintf(&b, "client c%d waits for %s (attempt %d, since %s); ", c.id, c.cur.reqID, c.cur.attempt, s.since(c.cur.since))
		}
	}
	for _, n := range s.nodes {
		if n.down {
			fmt.Fprintf(&b, "%s down; ", n.id)
			continue
		}
		seq := n.core.Sequencer()
		st := seq.Status(s.now)
		fmt.Fprintf(&b, "%s applied %d (stalled %q) leading=%v ready=%v epoch %d committed %d lease=%v appends in flight %d; ",
			n.id, n.rep.Applied(), n.rep.Stalled(), seq.Leading(), seq.IsReady(), st.Epoch, st.Committed, n.core.HoldsLease(), len(n.appends))
	}
	return b.String()
}

func (s *Sim) since(t time.Time) string { return t.Sub(epoch0).String() }

// ---- events ----

// event is something that happens at a simulated time. One bound to a node
// belongs to one incarnation of its process: it is lost if the process
// crashed since, and held back while the process is paused.
type event struct {
	at   time.Time
	id   uint64 // ties at the same time run in scheduling order
	node *node
	inc  int
	fn   func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].id < q[j].id
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

func (s *Sim) schedule(e *event) {
	s.nextID++
	e.id = s.nextID
	heap.Push(&s.events, e)
}

// after runs fn after d, outside any process.
func (s *Sim) after(d time.Duration, fn func()) {
	s.schedule(&event{at: s.now.Add(d), fn: fn})
}

// on runs fn after d inside node n's current process.
func (s *Sim) on(n *node, d time.Duration, fn func()) {
	s.schedule(&event{at: s.now.Add(d), node: n, inc: n.inc, fn: fn})
}

func (s *Sim) step() {
	e := heap.Pop(&s.events).(*event)
	s.now = e.at
	s.steps++
	if n := e.node; n != nil {
		if n.down || n.inc != e.inc {
			return // died with its process
		}
		if n.paused {
			n.frozen = append(n.frozen, e)
			return
		}
	}
	e.fn()
}

func (s *Sim) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// ---- network ----

// delay of one message: usually short, sometimes long enough to reorder it
// behind many later ones.
func (s *Sim) delay() time.Duration {
	if s.rng.IntN(20) == 0 {
		return s.jitter(50*time.Millisecond, 800*time.Millisecond)
	}
	return s.jitter(200*time.Microsecond, 15*time.Millisecond)
}

// copies: how many times a message arrives (0: dropped, 2: duplicated).
func (s *Sim) copies() int {
	if s.healed {
		return 1
	}
	switch r := s.rng.Float64(); {
	case r < s.cfg.Drop:
		return 0
	case r < s.cfg.Drop+s.cfg.Dup:
		return 2
	}
	return 1
}

// sendTo delivers a message to node n (fn runs in its process). A message
// on a leader subject (forward, ack) reaches n only if n is subscribed when
// it is published and still is when it arrives (NATS drops the pending
// messages of a subscription that ends). what names it in the trace.
func (s *Sim) sendTo(n *node, leaderSubject bool, what string, fn func()) {
	if n.down || n.partitioned || (leaderSubject && !n.subscribed) {
		return // no subscriber: NATS drops it
	}
	gen := n.subGen
	k := s.copies()
	if k != 1 {
		s.debugf("network: %s to %s arrives %d times", what, n.id, k)
	}
	for range k {
		s.on(n, s.delay(), func() {
			if n.partitioned || leaderSubject && (!n.subscribed || n.subGen != gen) {
				return
			}
			fn()
		})
	}
}

// send delivers a message to a client.
func (s *Sim) send(what string, fn func()) {
	k := s.copies()
	if k != 1 {
		s.debugf("network: %s arrives %d times", what, k)
	}
	for range k {
		s.after(s.delay(), fn)
	}
}

// leaders are the nodes subscribed to the leader's subjects right now:
// every connected node that leads or believes it does.
func (s *Sim) leaders() []*node {
	var out []*node
	for _, n := range s.nodes {
		if !n.down && !n.partitioned && n.subscribed {
			out = append(out, n)
		}
	}
	return out
}

// inbox is where a reply subject leads: a client's attempt, or a worker's
// attempt to forward.
type inbox struct {
	admin bool // an operator's chorus remove / snapshot
	c     *client
	w     *write
	fwd   *forwardOp
	n     *node
	inc   int
	try   int
}

// ---- the ORDER log ----

// appendLog is JetStream's publish with an expected last sequence.
func (s *Sim) appendLog(by *node, o messages.Order, data []byte) error {
	if last := uint64(len(s.log)); last != o.Seq-1 {
		s.tracef("%s append seq %d epoch %d %s FAILS: log ends at %d", by.id, o.Seq, o.Epoch, kindOf(o), last)
		return fmt.Errorf("wrong last sequence: %d", last)
	}
	s.log = append(s.log, logEntry{data: data, order: o})
	s.tracef("%s appended seq %d epoch %d %s", by.id, o.Seq, o.Epoch, kindOf(o))
	if who, ok := s.appender[o.Epoch]; ok && who != o.Leader {
		s.fail("two appenders in epoch %d: %s and %s (seq %d)", o.Epoch, who, o.Leader, o.Seq)
	}
	s.appender[o.Epoch] = o.Leader
	for _, n := range s.nodes {
		n.wake()
	}
	return nil
}

// kindOf names an ORDER in the trace: "marker by s1", "[c0-3 c2-1] by s1".
func kindOf(o messages.Order) string {
	if o.Kind == messages.OrderEpoch {
		return "marker by " + o.Leader
	}
	return fmt.Sprintf("%v by %s", reqIDs(o), o.Leader)
}

func reqIDs(o messages.Order) []string {
	ids := make([]string, len(o.Writes))
	for i, w := range o.Writes {
		ids[i] = w.RequestID
	}
	return ids
}

// tail is what the Node's log tail read returns.
func (s *Sim) tail() leader.Tail {
	t := leader.Tail{FirstSeq: s.first, SnapshotSeq: s.latest().seq}
	if len(s.log) == 0 {
		return t
	}
	o := s.log[len(s.log)-1].order
	t.LastSeq, t.Epoch, t.LastTS = o.Seq, o.Epoch, o.LastTimestamp()
	return t
}

// ---- the lease: a JetStream KV key with a TTL ----

// kv is the lease bucket's one key. Every write gets the bucket's next
// revision, as a JetStream stream sequence does.
type kv struct {
	present bool
	value   string
	rev     uint64
	expires time.Time
	lastRev uint64
}

func (k *kv) live(now time.Time) bool { return k.present && now.Before(k.expires) }

func (k *kv) put(now time.Time, value string) uint64 {
	k.lastRev++
	k.present, k.value, k.rev, k.expires = true, value, k.lastRev, now.Add(leaseTTL)
	return k.rev
}

// create is kv.Create: it fails if the key exists.
func (k *kv) create(now time.Time, value string) (uint64, error) {
	if k.live(now) {
		return 0, leader.ErrKeyExists
	}
	return k.put(now, value), nil
}

// get is kv.Get.
func (k *kv) get(now time.Time) ([]byte, uint64, error) {
	if !k.live(now) {
		return nil, 0, leader.ErrKeyNotFound
	}
	return []byte(k.value), k.rev, nil
}

// update is kv.Update with an expected revision.
func (k *kv) update(now time.Time, value string, rev uint64) (uint64, error) {
	switch {
	case !k.live(now):
		return 0, leader.ErrKeyNotFound
	case k.rev != rev:
		return 0, leader.ErrConflict
	}
	return k.put(now, value), nil
}

// del is kv.Delete with an expected revision.
func (k *kv) del(now time.Time, rev uint64) error {
	if !k.live(now) || k.rev != rev {
		return leader.ErrConflict
	}
	k.lastRev++
	k.present = false
	return nil
}

// ---- faults ----

// fault injects one fault and schedules the next, until healing.
func (s *Sim) fault() {
	if s.healed {
		return
	}
	defer s.after(s.jitter(100*time.Millisecond, 1500*time.Millisecond), s.fault)
	var up []*node
	for _, n := range s.nodes {
		if !n.down && !n.paused {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return
	}
	// Half the time, hit a node that believes it leads: that is where
	// the protocol is delicate.
	target := up[s.rng.IntN(len(up))]
	if s.rng.IntN(2) == 0 {
		for _, n := range up {
			if n.subscribed {
				target = n
			}
		}
	}
	switch r := s.rng.IntN(16); {
	case r >= 14:
		if target.partitioned {
			return
		}
		target.partition()
		s.on(target, s.jitter(300*time.Millisecond, 6*time.Second), func() {
			if !s.healed && target.partitioned {
				target.reconnect()
			}
		})
	case r < 3:
		target.crash()
		s.after(s.jitter(200*time.Millisecond, 5*time.Second), func() {
			if !s.healed && target.down {
				target.start()
			}
		})
	case r < 6:
		target.pause()
		s.after(s.jitter(300*time.Millisecond, 6*time.Second), func() {
			if !s.healed && target.paused {
				target.resume()
			}
		})
	case r < 8:
		s.tracef("FAULT lease expires (held by %q)", s.kv.value)
		if s.kv.present {
			s.leaseCut[strings.SplitN(s.kv.value, "/", 2)[0]] = s.now
		}
		s.kv.present = false
	case r < 9 && s.cfg.LeaseResets && s.rng.IntN(4) == 0:
		// The lease bucket is deleted and recreated (an operator, a lost
		// NATS volume): revisions start again from 1, behind the log's
		// epochs.
		s.tracef("FAULT lease bucket recreated (held by %q at rev %d)", s.kv.value, s.kv.rev)
		s.kv = kv{}
	case r == 12 && s.rng.IntN(2) == 0:
		// An operator removes a member (chorus remove), through whoever
		// believes it leads; it rejoins only with a new keyspace, at
		// heal at the latest.
		victim := s.nodes[s.rng.IntN(len(s.nodes))]
		for _, l := range s.leaders() {
			to := fmt.Sprintf("_INBOX.admin.%d", s.steps)
			s.inboxes[to] = inbox{admin: true}
			s.tracef("FAULT an admin removes %s through %s", victim.id, l.id)
			s.count("remove asked")
			s.sendTo(l, true, "remove "+victim.id, func() { l.do(l.core.Remove(victim.id, to, l.clock())) })
		}
	case r == 13 && s.rng.IntN(2) == 0:
		for _, l := range s.leaders() {
			to := fmt.Sprintf("_INBOX.admin.%d", s.steps)
			s.inboxes[to] = inbox{admin: true}
			s.tracef("FAULT an admin asks %s for a snapshot", l.id)
			s.sendTo(l, true, "snapshot", func() { l.do(l.core.Snapshot(to, l.clock())) })
		}
	case r == 9:
		// Its Cassandra slows down: the replica falls behind, leaves the
		// ACK set, and may lag when it wins the lease.
		target.slowUntil, target.slowBy = s.now.Add(s.jitter(time.Second, 8*time.Second)), s.jitter(50*time.Millisecond, 600*time.Millisecond)
		s.tracef("FAULT %s's store slows down by %s per apply until %s", target.id, target.slowBy, s.since(target.slowUntil))
		s.count("slow store")
	case r == 10:
		target.failUntil = s.now.Add(s.jitter(200*time.Millisecond, 3*time.Second))
		s.tracef("FAULT %s's store fails every apply until %s", target.id, s.since(target.failUntil))
		s.count("failing store")
	case r == 11 && s.rng.IntN(2) == 0:
		// Its keyspace is lost: it restarts empty and restores the newest
		// snapshot or replays the log, far behind the others, and may win
		// the lease meanwhile.
		target.crash()
		target.ks = s.newKeyspace()
		s.tracef("FAULT %s's keyspace is wiped", target.id)
		s.count("wiped keyspace")
		s.after(s.jitter(200*time.Millisecond, 3*time.Second), func() {
			if !s.healed && target.down {
				target.start()
			}
		})
	default:
		// A quiet spell: faults come in bursts.
	}
}

// count notes that something worth covering happened, for
// TestSimulationCoversItsFaults.
func (s *Sim) count(what string) {
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[what]++
}

// heal ends the faults: every process runs again and messages are no
// longer dropped or duplicated (they are still delayed and reordered).
func (s *Sim) heal() {
	s.healed, s.healAt = true, s.now
	s.tracef("HEAL")
	if s.cfg.Broken {
		// Preferably the node that believes it leads: the hardest case.
		s.broken = s.nodes[s.rng.IntN(len(s.nodes))]
		for _, n := range s.nodes {
			if !n.down && n.subscribed {
				s.broken = n
			}
		}
		s.tracef("FAULT %s's store fails from now on, for good", s.broken.id)
		s.count("broken store")
	}
	for _, n := range s.nodes {
		if n.removed { // the operator brings it back with a new keyspace
			n.ks = s.newKeyspace()
			n.removed = false
		}
		switch {
		case n.down:
			n.start()
		case n.paused:
			n.resume()
		}
		if n.partitioned {
			n.reconnect()
		}
	}
}
