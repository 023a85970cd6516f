// Package leader is the sequencer of Chorus: it puts every write into one
// global order (a JetStream log appended with an expected last sequence),
// collects the replicas' ACKs and replies to clients once a write is
// committed. The protocol lives in Sequencer, a state machine without I/O:
// events go in, Actions come out. Node wires it to NATS.
package leader

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// Timing of liveness decisions.
type Timing struct {
	// HeartbeatTimeout: a worker not heard from for this long is out of
	// the ACK set.
	HeartbeatTimeout time.Duration
	// AckTimeout: a live worker that has not applied an appended write
	// this long after it was appended is out of the ACK set (slow or
	// stuck), so one bad replica cannot stall every write.
	AckTimeout time.Duration
	// CatchUpTimeout: a new leader whose own replica has not applied its
	// epoch marker this long after winning gives the lease up (its replica
	// lags or is stalled), so one lagging worker cannot hold every write
	// hostage. Zero means no bound.
	CatchUpTimeout time.Duration
}

// Lookup finds the outcome of an already-applied request id in the
// leader's own replica (the replicated exactly-once record).
type Lookup func(requestID string) (messages.Outcome, bool)

// Action is something the Node must do for the Sequencer.
type Action interface{ isAction() }

// Append asks the Node to append Order to the log with expected last
// sequence Order.Seq-1 and to report the result with Appended.
type Append struct{ Order messages.Order }

// Accept answers a forwarding worker (To is its reply inbox).
type Accept struct {
	To       string
	Accepted messages.Accepted
}

// Respond sends Reply to a client inbox.
type Respond struct {
	To    string
	Reply messages.Reply
}

// StepDown tells the Node this leader must stop appending (its append
// failed: another leader may have appended, or the log is unreachable).
// HoldFor, when set, asks not to campaign again before this worker's
// replica has applied that seq (it gave up because its replica lagged).
type StepDown struct {
	Reason  string
	HoldFor uint64
}

// Ready tells the Node the leader has caught up and now serves writes.
type Ready struct{ Epoch, Seq uint64 }

// Notice is something worth logging: a worker left or re-joined the ACK
// set, replicas disagree on an outcome.
type Notice struct {
	Warn bool
	Msg  string
}

func (Append) isAction()   {}
func (Accept) isAction()   {}
func (Respond) isAction()  {}
func (StepDown) isAction() {}
func (Ready) isAction()    {}
func (Notice) isAction()   {}

type member struct {
	applied   uint64
	durable   uint64 // how far its keyspace records it applied
	lastSeen  time.Time
	live      bool
	wasLive   bool
	stalled   string
	gen       string
	restoring *messages.RestoreProgress
	// rate is the recent apply rate in entries/s (for a joining member's
	// estimate of the time left), from progress between heartbeats.
	rate         float64
	progressSeq  uint64
	progressTime time.Time
}

// entry is one ORDER appended (or being appended) in this epoch.
type entry struct {
	seq        uint64
	appendedAt time.Time
	appended   bool
	writes     []*write        // none for the epoch marker and special ORDERs
	special    *messages.Order // a membership change or snapshot request
}

// write is one client write in flight.
type write struct {
	e           *entry // nil while it waits in the next batch
	index       uint32
	requestID   string
	stmt        string
	origin      string
	consistency messages.Consistency
	plain       bool              // ordered as sent: Admission.Plain
	outcome     *messages.Outcome // from the leader's own replica, else the first ACK
	replies     []string          // client inboxes waiting for the outcome
	accepts     []string          // forwarding workers waiting for Accepted
	done        bool
}

// waiter is a retried request whose write is already applied: it is
// answered once every live replica has applied it too.
type waiter struct {
	inbox     string
	outcome   messages.Outcome
	origin    string
	requestID string
}

// Sequencer is the leader's protocol state. It is not safe for concurrent
// use: one goroutine owns it. It tracks worker liveness at all times (so a
// follower that becomes leader already knows who is live) and sequences
// writes while it leads.
type Sequencer struct {
	id      string
	timing  Timing
	lookup  Lookup
	rnd     io.Reader
	started time.Time // when this process began listening to heartbeats

	members map[string]*member

	// While leading:
	leading   bool
	ready     bool
	epoch     uint64
	marker    uint64 // seq of this epoch's marker
	leadAt    time.Time
	lastSeq   uint64 // last seq handed to Append
	lastTS    int64  // last write timestamp handed out (µs)
	committed uint64 // every seq <= committed has been replied to
	pending   []*entry
	byReq     map[string]*write
	waiters   map[uint64][]waiter
	queued    []queuedForward
	batch     []*write // writes for the next ORDER
	inflight  int      // appends not yet reported

	// Membership, snapshots and the log's bounds (members.go).
	policy      Policy
	roster      map[string]messages.Member // nil until the leader is ready
	proposing   map[string]string          // id -> gen of an add in flight
	firstSeq    uint64
	snapshotSeq uint64
	snap        *snapRequest
	lastSnapReq uint64
	trimming    bool
	trimAt      time.Time
	admin       map[uint64][]adminWaiter

	stats SequencerStats
}

// SequencerStats are the sequencer's counters.
type SequencerStats struct {
	Divergences uint64 // writes whose replicas disagreed on the outcome
	Ignored     uint64 // ACKs and heartbeats of removed members
	Replayed    uint64 // retries answered from the exactly-once record
}

// Stats returns the sequencer's counters.
func (s *Sequencer) Stats() SequencerStats { return s.stats }

// Group commit: writes arriving while appends are in flight wait and go
// into the next ORDER together, so under load one log append (one fsync)
// and one ACK per replica serve many writes, while an idle leader appends
// each write at once.
const (
	maxInFlight   = 2        // appends in flight at once
	maxBatch      = 256      // writes per ORDER
	maxBatchBytes = 48 << 10 // statement bytes per ORDER (one statement may exceed it)
	maxQueued     = 10000    // writes a starting leader holds until it is ready
)

type queuedForward struct {
	fwd    messages.Forward
	adm    Admission
	accept string
}

// Admission is what the leader's admission check (check.Forward) learned
// about a FORWARD's statement, so the sequencer need not lex it again.
type Admission struct {
	// Plain: the statement is the FORWARD's text as sent and calls none of
	// the functions cql.Rewrite replaces, so it is ordered as it is. (The
	// check ran Rewrite's own checks on it: the rewrite would return it
	// unchanged.)
	Plain bool
}

// Admitted is the Admission of f, whose statement check.Forward parsed as st.
func Admitted(f messages.Forward, st cql.Statement) Admission {
	return Admission{Plain: st.Text == f.Stmt && !st.Nondeterministic}
}

// NewSequencer returns a follower's sequencer for worker id. rnd supplies
// randomness for rewriting uuid() and kin.
func NewSequencer(id string, timing Timing, lookup Lookup, rnd io.Reader, now time.Time) *Sequencer {
	return &Sequencer{id: id, timing: timing, lookup: lookup, rnd: rnd, started: now, members: map[string]*member{}}
}

// Leading reports whether this sequencer currently leads.
func (s *Sequencer) Leading() bool { return s.leading }

// IsReady reports whether the leader serves writes.
func (s *Sequencer) IsReady() bool { return s.leading && s.ready }

// Committed is how far the log is committed while the leader is ready
// (every entry up to it is applied by the replicas it must be, its writes
// answered), 0 otherwise.
func (s *Sequencer) Committed() uint64 {
	if !s.IsReady() {
		return 0
	}
	return s.committed
}

// Epoch is the current leadership epoch (0 when following).
func (s *Sequencer) Epoch() uint64 { return s.epoch }

// Lead makes this sequencer the leader of epoch, continuing a log whose last
// entry is lastSeq with write timestamp lastTS. It appends the epoch marker
// first: once it is in the log, no earlier leader can append again.
func (s *Sequencer) Lead(epoch, lastSeq uint64, lastTS int64, now time.Time) []Action {
	s.leading, s.ready, s.leadAt = true, false, now
	s.epoch, s.lastSeq, s.lastTS = epoch, lastSeq, lastTS
	s.committed = lastSeq
	s.pending, s.byReq, s.waiters, s.batch = nil, map[string]*write{}, map[uint64][]waiter{}, nil
	s.roster, s.proposing, s.snap, s.admin, s.trimming = nil, map[string]string{}, nil, map[uint64][]adminWaiter{}, false
	s.marker = s.nextSeq()
	o := messages.Order{Epoch: epoch, Seq: s.marker, Kind: messages.OrderEpoch, Timestamp: s.nextTS(now), Leader: s.id}
	s.pending = append(s.pending, &entry{seq: o.Seq, appendedAt: now})
	s.inflight = 1
	return []Action{Append{Order: o}, Notice{Msg: fmt.Sprintf("leading epoch %d after seq %d", epoch, lastSeq)}}
}

// StepDown ends leadership. Pending writes are dropped: the forwarding
// workers retry them under the same request id with the next leader, which
// finds those that reached the log.
func (s *Sequencer) StepDown(reason string) []Action {
	if !s.leading {
		return nil
	}
	// An admin waiting on this leader hears that it stepped down (clients'
	// writes are retried by their forwarding workers under their ids).
	var acts []Action
	for _, to := range s.adminInboxes() {
		acts = append(acts, Respond{To: to, Reply: messages.Failure(messages.CodeUnavailable,
			"the leader stepped down before the operation completed ("+reason+"); check chorus status, then retry", s.id, "")})
	}
	s.leading, s.ready, s.epoch, s.committed = false, false, 0, 0
	s.pending, s.byReq, s.waiters, s.queued, s.batch, s.inflight = nil, nil, nil, nil, nil, 0
	s.snap, s.admin = nil, nil
	return append([]Action{StepDown{Reason: reason}}, acts...)
}

func (s *Sequencer) nextSeq() uint64 { s.lastSeq++; return s.lastSeq }

// nextTS hands out strictly increasing write timestamps, never behind an
// earlier leader's (clocks differ between machines).
func (s *Sequencer) nextTS(now time.Time) int64 { return s.reserveTS(now, 1) }

// reserveTS reserves n consecutive timestamps and returns the first.
func (s *Sequencer) reserveTS(now time.Time, n int) int64 {
	ts := now.UnixMicro()
	if ts <= s.lastTS {
		ts = s.lastTS + 1
	}
	s.lastTS = ts + int64(n) - 1
	return ts
}

// Forward handles a write forwarded by a worker; accept is the forwarding
// worker's inbox for Accepted ("" if it does not wait). Its statement is
// rewritten (cql.Rewrite) when it is ordered.
func (s *Sequencer) Forward(f messages.Forward, accept string, now time.Time) []Action {
	return s.ForwardAdmitted(f, Admission{}, accept, now)
}

// ForwardAdmitted is Forward of a FORWARD that passed the admission check
// on this leader, with what the check learned (Admitted).
func (s *Sequencer) ForwardAdmitted(f messages.Forward, adm Admission, accept string, now time.Time) []Action {
	if !s.leading {
		return nil // the Node unsubscribes; a late message is retried by its sender
	}
	if !s.ready {
		if len(s.queued) < maxQueued { // beyond it the sender retries
			s.queued = append(s.queued, queuedForward{f, adm, accept})
		}
		return nil
	}
	// A retry of a write still in flight: answer it with the original.
	if w, ok := s.byReq[f.RequestID]; ok {
		if f.Reply != "" && !slices.Contains(w.replies, f.Reply) {
			w.replies = append(w.replies, f.Reply)
		}
		if w.e != nil && w.e.appended {
			return s.accept(accept, w.e.seq, f.RequestID)
		}
		if accept != "" {
			w.accepts = append(w.accepts, accept)
		}
		return nil
	}
	// A retry of a write already applied: the original outcome, once every
	// live replica has it.
	if o, ok := s.lookup(f.RequestID); ok {
		s.stats.Replayed++
		if f.Reply == "" {
			return s.accept(accept, o.Seq, f.RequestID)
		}
		// The waiter first: the Accepted must not report its seq answered.
		s.waiters[o.Seq] = append(s.waiters[o.Seq], waiter{inbox: f.Reply, outcome: o, origin: f.Origin, requestID: f.RequestID})
		acts := s.accept(accept, o.Seq, f.RequestID)
		return append(acts, s.commit(now)...)
	}
	w := &write{requestID: f.RequestID, stmt: f.Stmt, origin: f.Origin, consistency: f.Consistency, plain: adm.Plain}
	if f.Reply != "" {
		w.replies = []string{f.Reply}
	}
	if accept != "" {
		w.accepts = []string{accept}
	}
	s.byReq[f.RequestID] = w
	s.batch = append(s.batch, w)
	return s.flush(now)
}

// flush appends the waiting writes as one ORDER, unless enough appends
// are in flight already (then they wait for one to finish).
func (s *Sequencer) flush(now time.Time) []Action {
	var acts []Action
	for len(s.batch) > 0 && s.inflight < maxInFlight {
		n, size := 0, 0
		for n < len(s.batch) && n < maxBatch && (n == 0 || size+len(s.batch[n].stmt) <= maxBatchBytes) {
			size += len(s.batch[n].stmt)
			n++
		}
		take := s.batch[:n]
		s.batch = s.batch[n:]
		ts := s.reserveTS(now, n)
		e := &entry{appendedAt: now}
		o := messages.Order{Epoch: s.epoch, Kind: messages.OrderWrite, Timestamp: ts, Leader: s.id}
		for _, w := range take {
			// Writes[i] is applied with timestamp Timestamp+i; i is the
			// position it gets if its rewrite succeeds.
			i := len(e.writes)
			stmt, err := w.stmt, error(nil)
			if !w.plain {
				stmt, _, err = cql.Rewrite(w.stmt, time.UnixMicro(ts+int64(i)), s.rnd)
			}
			if err != nil { // the receiving worker checked it, so this is rare
				delete(s.byReq, w.requestID)
				for _, to := range w.accepts {
					acts = append(acts, s.accept(to, 0, w.requestID)...)
				}
				for _, to := range w.replies {
					acts = append(acts, Respond{To: to, Reply: messages.Failure(messages.CodeNondeterministic, err.Error(), w.origin, w.requestID)})
				}
				continue
			}
			w.e, w.index = e, uint32(i)
			e.writes = append(e.writes, w)
			o.Writes = append(o.Writes, messages.Write{RequestID: w.requestID, Stmt: stmt, Origin: w.origin})
		}
		if len(e.writes) == 0 {
			continue
		}
		e.seq = s.nextSeq()
		o.Seq = e.seq
		s.pending = append(s.pending, e)
		s.inflight++
		acts = append(acts, Append{Order: o})
	}
	return acts
}

func (s *Sequencer) accept(to string, seq uint64, requestID string) []Action {
	if to == "" {
		return nil
	}
	return []Action{Accept{To: to, Accepted: messages.Accepted{Epoch: s.epoch, Seq: seq, RequestID: requestID, Answered: s.answered()}}}
}

// answered is the prefix of seqs whose writes this leader has answered:
// below its oldest pending entry and its oldest waiting retry. The
// replies were handed to the Node before the Accepted that reports them,
// on the same connection, so they are on their way first.
func (s *Sequencer) answered() uint64 {
	a := s.committed
	for seq := range s.waiters {
		if seq <= a {
			a = seq - 1
		}
	}
	return a
}

// Appended reports the result of the Append of seq in epoch. A result of
// an earlier term (this node led before, stepped down and leads again)
// says nothing about this term's entry at the same seq: it is ignored.
func (s *Sequencer) Appended(epoch, seq uint64, err error, now time.Time) []Action {
	if !s.leading || epoch != s.epoch {
		return nil
	}
	if err != nil {
		return s.StepDown(fmt.Sprintf("append of seq %d failed: %v", seq, err))
	}
	s.inflight--
	var acts []Action
	if e := s.find(seq); e != nil {
		e.appended = true
		if e.special != nil {
			s.specialAppended(e.special)
		}
		for _, w := range e.writes {
			for _, to := range w.accepts {
				acts = append(acts, s.accept(to, seq, w.requestID)...)
			}
			w.accepts = nil
		}
	}
	acts = append(acts, s.flush(now)...)
	return append(acts, s.advance(now)...)
}

func (s *Sequencer) find(seq uint64) *entry {
	i := sort.Search(len(s.pending), func(i int) bool { return s.pending[i].seq >= seq })
	if i < len(s.pending) && s.pending[i].seq == seq {
		return s.pending[i]
	}
	return nil
}

// Ack records that a worker applied everything up to a.Applied.
func (s *Sequencer) Ack(a messages.Ack, now time.Time) []Action {
	if s.removedGen(a.Worker, a.Gen) {
		s.stats.Ignored++
		return nil
	}
	acts := s.observe(a.Worker, a.Applied, "", a.Gen, now)
	if s.leading {
		for _, o := range a.Outcomes {
			if o.Code == messages.CodeStale && o.Seq >= s.marker && o.Seq <= s.lastSeq {
				// Replicas skip our entries as a deposed leader's: a leader
				// of a later epoch appended before our marker.
				return append(acts, s.StepDown(fmt.Sprintf("replica %s skipped seq %d of epoch %d as stale", a.Worker, o.Seq, s.epoch))...)
			}
			e := s.find(o.Seq)
			if e == nil || int(o.Index) >= len(e.writes) {
				continue
			}
			w := e.writes[o.Index]
			o := o
			switch {
			case w.outcome == nil || (a.Worker == s.id && !sameOutcome(*w.outcome, o)):
				if w.outcome != nil {
					acts = append(acts, s.diverged(w, a.Worker, o))
				}
				w.outcome = &o
			case !sameOutcome(*w.outcome, o):
				acts = append(acts, s.diverged(w, a.Worker, o))
			}
		}
	}
	return append(acts, s.advance(now)...)
}

func sameOutcome(a, b messages.Outcome) bool { return a == b }

func (s *Sequencer) diverged(w *write, worker string, o messages.Outcome) Action {
	s.stats.Divergences++
	return Notice{Warn: true, Msg: fmt.Sprintf("replicas disagree on seq %d write %d: %s got %s %q, recorded %s %q",
		o.Seq, o.Index, worker, o.Code, o.Error, w.outcome.Code, w.outcome.Error)}
}

// Heartbeat records a worker's liveness and progress.
func (s *Sequencer) Heartbeat(h messages.Heartbeat, now time.Time) []Action {
	if s.removedGen(h.Worker, h.Gen) {
		s.stats.Ignored++
		return nil
	}
	acts := s.observe(h.Worker, h.Applied, h.Stalled, h.Gen, now)
	if m := s.members[h.Worker]; m != nil {
		m.restoring = h.Restoring
		m.durable = h.Durable
	}
	if s.leading {
		acts = append(acts, s.snapshotReported(h.Snapshot, h.Worker)...)
	}
	return append(acts, s.advance(now)...)
}

func (s *Sequencer) observe(id string, applied uint64, stalled, gen string, now time.Time) []Action {
	m, ok := s.members[id]
	if !ok {
		m = &member{progressTime: now}
		s.members[id] = m
	}
	if gen != "" && gen != m.gen {
		// A new keyspace under this id (rebuilt or restored): it starts
		// over, so what the old one had applied says nothing.
		if m.gen != "" {
			m.applied, m.durable, m.live = 0, 0, false
		}
		m.gen = gen
	}
	if applied > m.applied {
		m.applied = applied
	}
	if dt := now.Sub(m.progressTime).Seconds(); dt >= 1 {
		r := float64(m.applied-min(m.progressSeq, m.applied)) / dt
		m.rate = 0.5*m.rate + 0.5*r
		m.progressSeq, m.progressTime = m.applied, now
	}
	m.lastSeen, m.stalled = now, stalled
	// A worker (re-)joins the ACK set once it has applied everything
	// already committed: from then on it only needs the writes in flight.
	if !m.live && m.applied >= s.committed && id != s.snapshotting() {
		m.live, m.wasLive = true, true
		if ok {
			return []Action{Notice{Msg: fmt.Sprintf("worker %s is live again at seq %d", id, m.applied)}}
		}
	}
	return nil
}

// Tick advances time: it takes silent and stuck workers out of the ACK set
// and finishes the leader's start-up.
func (s *Sequencer) Tick(now time.Time) []Action {
	if s.leading && !s.ready && s.timing.CatchUpTimeout > 0 && now.Sub(s.leadAt) > s.timing.CatchUpTimeout {
		var applied uint64
		if self := s.members[s.id]; self != nil {
			applied = self.applied
		}
		marker := s.marker
		acts := s.StepDown(fmt.Sprintf("own replica has applied seq %d, not this term's epoch marker at seq %d, %s after winning the lease (CHORUS_CATCHUP_TIMEOUT): giving the lease to a worker that is caught up",
			applied, marker, s.timing.CatchUpTimeout))
		for i, a := range acts {
			if sd, ok := a.(StepDown); ok {
				sd.HoldFor = marker
				acts[i] = sd
			}
		}
		return acts
	}
	oldest := s.oldestUnapplied()
	if self := s.members[s.id]; s.IsReady() && oldest != nil && (self == nil || self.applied < oldest.seq) && now.Sub(oldest.appendedAt) > s.timing.AckTimeout {
		// Nothing commits before the leader's own replica applies it: a
		// leader whose replica is stuck gives the lease to one that is not.
		var applied uint64
		if self != nil {
			applied = self.applied
		}
		acts := s.StepDown(fmt.Sprintf("own replica has not applied seq %d within %s (applied %d, stalled %q): giving the lease to a worker that can commit",
			oldest.seq, s.timing.AckTimeout, applied, s.stalledOf(s.id)))
		for i, a := range acts {
			if sd, ok := a.(StepDown); ok {
				sd.HoldFor = oldest.seq
				acts[i] = sd
			}
		}
		return acts
	}
	var acts []Action
	for _, id := range s.memberIDs() {
		m := s.members[id]
		if !m.live || id == s.id {
			continue
		}
		switch {
		case now.Sub(m.lastSeen) > s.timing.HeartbeatTimeout:
			m.live = false
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("worker %s is out: no heartbeat for %s", id, now.Sub(m.lastSeen).Round(time.Millisecond))})
		case oldest != nil && m.applied < oldest.seq && now.Sub(oldest.appendedAt) > s.timing.AckTimeout:
			m.live = false
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("worker %s is out: seq %d not applied after %s (applied %d)", id, oldest.seq, s.timing.AckTimeout, m.applied)})
		}
	}
	if s.IsReady() { // after the liveness above: a snapshot taker just out is replaced
		acts = append(acts, s.housekeeping(now)...)
	}
	return append(acts, s.advance(now)...)
}

func (s *Sequencer) stalledOf(id string) string {
	if m := s.members[id]; m != nil {
		return m.stalled
	}
	return ""
}

// memberIDs lists the known workers in order, so that what the sequencer
// does is the same for the same inputs (replays need no re-sorting).
func (s *Sequencer) memberIDs() []string {
	ids := make([]string, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// oldestUnapplied is the oldest appended entry still waiting for ACKs.
func (s *Sequencer) oldestUnapplied() *entry {
	for _, e := range s.pending {
		if e.appended {
			return e
		}
	}
	return nil
}

// advance finishes start-up when possible and commits what can be.
func (s *Sequencer) advance(now time.Time) []Action {
	if !s.leading {
		return nil
	}
	var acts []Action
	if !s.ready && s.startupDone(now) {
		s.ready = true
		s.loadRoster()
		acts = append(acts, Ready{Epoch: s.epoch, Seq: s.marker})
		q := s.queued
		s.queued = nil
		for _, qf := range q {
			acts = append(acts, s.ForwardAdmitted(qf.fwd, qf.adm, qf.accept, now)...)
		}
	}
	if s.ready {
		acts = append(acts, s.propose(now)...)
	}
	acts = append(acts, s.commit(now)...)
	return append(acts, s.answerAdmin()...)
}

// startupDone: this term's marker is in the log (its append succeeded: the
// replica's progress alone could be another leader's entry at that seq),
// the leader's own replica has applied everything up to it (so its
// exactly-once record is complete), and it has listened to heartbeats long
// enough to know every live worker.
func (s *Sequencer) startupDone(now time.Time) bool {
	self := s.members[s.id]
	m := s.find(s.marker)
	markerIn := m != nil && m.appended || m == nil && s.committed >= s.marker
	return markerIn && self != nil && self.applied >= s.marker && now.Sub(s.started) >= s.timing.HeartbeatTimeout
}

// applied reports whether seq is applied by every replica it must be.
func (s *Sequencer) applied(seq uint64, c messages.Consistency) bool {
	self := s.members[s.id]
	if self == nil || self.applied < seq {
		return false
	}
	if c == messages.ConsistencyOne {
		return true
	}
	for _, m := range s.members {
		if m.live && m.applied < seq {
			return false
		}
	}
	return true
}

func (s *Sequencer) commit(now time.Time) []Action {
	var acts []Action
	kept := s.pending[:0]
	for _, e := range s.pending {
		left := 0
		for _, w := range e.writes {
			if w.done {
				continue
			}
			if w.outcome == nil && e.appended && s.applied(e.seq, messages.ConsistencyOne) {
				// The ACKs carrying the outcome may all have been lost (core
				// NATS is at most once): our own replica has it on record.
				if o, ok := s.lookup(w.requestID); ok && o.Seq == e.seq && o.Index == w.index {
					w.outcome = &o
				}
			}
			if !e.appended || w.outcome == nil || !s.applied(e.seq, w.consistency) {
				left++
				continue
			}
			w.done = true
			delete(s.byReq, w.requestID)
			for _, to := range w.replies {
				acts = append(acts, Respond{To: to, Reply: messages.OutcomeReply(*w.outcome, w.origin, w.requestID)})
			}
		}
		// The epoch marker stays until every live replica has applied it.
		if left > 0 || !e.appended || (len(e.writes) == 0 && !s.applied(e.seq, messages.ConsistencyAll)) {
			kept = append(kept, e)
		}
	}
	for i := len(kept); i < len(s.pending); i++ {
		s.pending[i] = nil
	}
	s.pending = kept
	// committed: everything below the first entry still pending.
	if len(s.pending) > 0 {
		s.committed = s.pending[0].seq - 1
	} else {
		s.committed = s.lastSeq
	}
	seqs := make([]uint64, 0, len(s.waiters))
	for seq := range s.waiters {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if !s.applied(seq, messages.ConsistencyAll) {
			continue
		}
		for _, w := range s.waiters[seq] {
			acts = append(acts, Respond{To: w.inbox, Reply: messages.OutcomeReply(w.outcome, w.origin, w.requestID)})
		}
		delete(s.waiters, seq)
	}
	return acts
}

// Status describes the cluster as this sequencer sees it.
func (s *Sequencer) Status(now time.Time) messages.Status {
	st := messages.Status{Epoch: s.epoch, FirstSeq: s.firstSeq, LastSeq: s.lastSeq, Committed: s.committed, SnapshotSeq: s.snapshotSeq}
	if s.leading {
		st.Leader = s.id
	}
	for id, m := range s.members {
		w := messages.StatusWorker{ID: id, State: s.state(id, m), Live: m.live, Applied: m.applied,
			LastSeen: now.Sub(m.lastSeen).Round(time.Millisecond).String(), Stalled: m.stalled, Restoring: m.restoring}
		if s.lastSeq > m.applied {
			w.Lag = s.lastSeq - m.applied
		}
		if w.State == messages.StateJoining {
			w.ETA = eta(m, w.Lag)
		}
		st.Workers = append(st.Workers, w)
	}
	for id := range s.roster { // members not heard from since this leader started
		if _, ok := s.members[id]; !ok {
			st.Workers = append(st.Workers, messages.StatusWorker{ID: id, State: s.state(id, nil), Applied: 0, LastSeen: "never (since this leader started)"})
		}
	}
	sort.Slice(st.Workers, func(i, j int) bool { return st.Workers[i].ID < st.Workers[j].ID })
	return st
}
