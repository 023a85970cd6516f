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
type StepDown struct{ Reason string }

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
	applied  uint64
	lastSeen time.Time
	live     bool
	stalled  string
}

type entry struct {
	seq         uint64
	requestID   string
	origin      string
	consistency messages.Consistency
	appendedAt  time.Time
	appended    bool
	outcome     *messages.Outcome // from the leader's own replica, else the first ACK
	replies     []string          // client inboxes waiting for the outcome
	accepts     []string          // forwarding workers waiting for Accepted
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
	lastSeq   uint64 // last seq handed to Append
	lastTS    int64  // last write timestamp handed out (µs)
	committed uint64 // every seq <= committed has been replied to
	pending   []*entry
	byReq     map[string]*entry
	waiters   map[uint64][]waiter
	queued    []queuedForward

	// Counters, for status and tests.
	Divergences uint64
}

// maxQueued bounds the writes a starting leader holds until it is ready.
const maxQueued = 10000

type queuedForward struct {
	fwd    messages.Forward
	accept string
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

// Epoch is the current leadership epoch (0 when following).
func (s *Sequencer) Epoch() uint64 { return s.epoch }

// Lead makes this sequencer the leader of epoch, continuing a log whose last
// entry is lastSeq with write timestamp lastTS. It appends the epoch marker
// first: once it is in the log, no earlier leader can append again.
func (s *Sequencer) Lead(epoch, lastSeq uint64, lastTS int64, now time.Time) []Action {
	s.leading, s.ready = true, false
	s.epoch, s.lastSeq, s.lastTS = epoch, lastSeq, lastTS
	s.committed = lastSeq
	s.pending, s.byReq, s.waiters = nil, map[string]*entry{}, map[uint64][]waiter{}
	s.marker = s.nextSeq()
	o := messages.Order{Epoch: epoch, Seq: s.marker, Kind: messages.OrderEpoch, Timestamp: s.nextTS(now), Leader: s.id}
	s.pending = append(s.pending, &entry{seq: o.Seq, appendedAt: now})
	return []Action{Append{Order: o}, Notice{Msg: fmt.Sprintf("leading epoch %d after seq %d", epoch, lastSeq)}}
}

// StepDown ends leadership. Pending writes are dropped: the forwarding
// workers retry them under the same request id with the next leader, which
// finds those that reached the log.
func (s *Sequencer) StepDown(reason string) []Action {
	if !s.leading {
		return nil
	}
	s.leading, s.ready, s.epoch, s.committed = false, false, 0, 0
	s.pending, s.byReq, s.waiters, s.queued = nil, nil, nil, nil
	return []Action{StepDown{Reason: reason}}
}

func (s *Sequencer) nextSeq() uint64 { s.lastSeq++; return s.lastSeq }

// nextTS hands out strictly increasing write timestamps, never behind an
// earlier leader's (clocks differ between machines).
func (s *Sequencer) nextTS(now time.Time) int64 {
	ts := now.UnixMicro()
	if ts <= s.lastTS {
		ts = s.lastTS + 1
	}
	s.lastTS = ts
	return ts
}

// Forward handles a write forwarded by a worker; accept is the forwarding
// worker's inbox for Accepted ("" if it does not wait).
func (s *Sequencer) Forward(f messages.Forward, accept string, now time.Time) []Action {
	if !s.leading {
		return nil // the Node unsubscribes; a late message is retried by its sender
	}
	if !s.ready {
		if len(s.queued) < maxQueued { // beyond it the sender retries
			s.queued = append(s.queued, queuedForward{f, accept})
		}
		return nil
	}
	// A retry of a write still in flight: answer it with the original.
	if e, ok := s.byReq[f.RequestID]; ok {
		if f.Reply != "" && !slices.Contains(e.replies, f.Reply) {
			e.replies = append(e.replies, f.Reply)
		}
		if e.appended {
			return s.accept(accept, e.seq, f.RequestID)
		}
		if accept != "" {
			e.accepts = append(e.accepts, accept)
		}
		return nil
	}
	// A retry of a write already applied: the original outcome, once every
	// live replica has it.
	if o, ok := s.lookup(f.RequestID); ok {
		acts := s.accept(accept, o.Seq, f.RequestID)
		if f.Reply != "" {
			s.waiters[o.Seq] = append(s.waiters[o.Seq], waiter{inbox: f.Reply, outcome: o, origin: f.Origin, requestID: f.RequestID})
			acts = append(acts, s.commit(now)...)
		}
		return acts
	}
	ts := s.nextTS(now)
	stmt, _, err := cql.Rewrite(f.Stmt, time.UnixMicro(ts), s.rnd)
	if err != nil {
		acts := s.accept(accept, 0, f.RequestID)
		if f.Reply != "" {
			acts = append(acts, Respond{To: f.Reply, Reply: messages.Failure(messages.CodeNondeterministic, err.Error(), f.Origin, f.RequestID)})
		}
		return acts
	}
	e := &entry{seq: s.nextSeq(), requestID: f.RequestID, origin: f.Origin, consistency: f.Consistency, appendedAt: now}
	if f.Reply != "" {
		e.replies = []string{f.Reply}
	}
	if accept != "" {
		e.accepts = []string{accept}
	}
	s.pending = append(s.pending, e)
	s.byReq[f.RequestID] = e
	return []Action{Append{Order: messages.Order{
		Epoch: s.epoch, Seq: e.seq, Kind: messages.OrderWrite, RequestID: f.RequestID,
		Stmt: stmt, Timestamp: ts, Origin: f.Origin, Leader: s.id,
	}}}
}

func (s *Sequencer) accept(to string, seq uint64, requestID string) []Action {
	if to == "" {
		return nil
	}
	return []Action{Accept{To: to, Accepted: messages.Accepted{Epoch: s.epoch, Seq: seq, RequestID: requestID}}}
}

// Appended reports the result of an Append for seq.
func (s *Sequencer) Appended(seq uint64, err error, now time.Time) []Action {
	if !s.leading {
		return nil
	}
	if err != nil {
		return s.StepDown(fmt.Sprintf("append of seq %d failed: %v", seq, err))
	}
	e := s.find(seq)
	if e == nil {
		return nil
	}
	e.appended = true
	var acts []Action
	for _, to := range e.accepts {
		acts = append(acts, s.accept(to, seq, e.requestID)...)
	}
	e.accepts = nil
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
	acts := s.observe(a.Worker, a.Applied, "", now)
	if s.leading {
		for _, o := range a.Outcomes {
			e := s.find(o.Seq)
			if e == nil || e.requestID == "" {
				continue
			}
			o := o
			switch {
			case e.outcome == nil || (a.Worker == s.id && !sameOutcome(*e.outcome, o)):
				if e.outcome != nil {
					acts = append(acts, s.diverged(e, a.Worker, o))
				}
				e.outcome = &o
			case !sameOutcome(*e.outcome, o):
				acts = append(acts, s.diverged(e, a.Worker, o))
			}
		}
	}
	return append(acts, s.advance(now)...)
}

func sameOutcome(a, b messages.Outcome) bool { return a == b }

func (s *Sequencer) diverged(e *entry, worker string, o messages.Outcome) Action {
	s.Divergences++
	return Notice{Warn: true, Msg: fmt.Sprintf("replicas disagree on seq %d: %s got %s %q, recorded %s %q",
		e.seq, worker, o.Code, o.Error, e.outcome.Code, e.outcome.Error)}
}

// Heartbeat records a worker's liveness and progress.
func (s *Sequencer) Heartbeat(h messages.Heartbeat, now time.Time) []Action {
	return append(s.observe(h.Worker, h.Applied, h.Stalled, now), s.advance(now)...)
}

func (s *Sequencer) observe(id string, applied uint64, stalled string, now time.Time) []Action {
	m, ok := s.members[id]
	if !ok {
		m = &member{}
		s.members[id] = m
	}
	if applied > m.applied {
		m.applied = applied
	}
	m.lastSeen, m.stalled = now, stalled
	// A worker (re-)joins the ACK set once it has applied everything
	// already committed: from then on it only needs the writes in flight.
	if !m.live && m.applied >= s.committed {
		m.live = true
		if ok {
			return []Action{Notice{Msg: fmt.Sprintf("worker %s is live again at seq %d", id, m.applied)}}
		}
	}
	return nil
}

// Tick advances time: it takes silent and stuck workers out of the ACK set
// and finishes the leader's start-up.
func (s *Sequencer) Tick(now time.Time) []Action {
	var acts []Action
	oldest := s.oldestUnapplied()
	for id, m := range s.members {
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
	return append(acts, s.advance(now)...)
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
		acts = append(acts, Ready{Epoch: s.epoch, Seq: s.marker})
		q := s.queued
		s.queued = nil
		for _, qf := range q {
			acts = append(acts, s.Forward(qf.fwd, qf.accept, now)...)
		}
	}
	return append(acts, s.commit(now)...)
}

// startupDone: the marker is in the log, the leader's own replica has
// applied everything up to it (so its exactly-once record is complete),
// and it has listened to heartbeats long enough to know every live worker.
func (s *Sequencer) startupDone(now time.Time) bool {
	self := s.members[s.id]
	return self != nil && self.applied >= s.marker && now.Sub(s.started) >= s.timing.HeartbeatTimeout
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
		if !e.appended || !s.applied(e.seq, e.consistency) || (e.requestID != "" && e.outcome == nil) {
			kept = append(kept, e)
			continue
		}
		if e.requestID != "" {
			delete(s.byReq, e.requestID)
			for _, to := range e.replies {
				acts = append(acts, Respond{To: to, Reply: messages.OutcomeReply(*e.outcome, e.origin, e.requestID)})
			}
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
	for seq, ws := range s.waiters {
		if !s.applied(seq, messages.ConsistencyAll) {
			continue
		}
		for _, w := range ws {
			acts = append(acts, Respond{To: w.inbox, Reply: messages.OutcomeReply(w.outcome, w.origin, w.requestID)})
		}
		delete(s.waiters, seq)
	}
	return acts
}

// Status describes the cluster as this sequencer sees it.
func (s *Sequencer) Status(now time.Time) messages.Status {
	st := messages.Status{Epoch: s.epoch, LastSeq: s.lastSeq, Committed: s.committed}
	if s.leading {
		st.Leader = s.id
	}
	for id, m := range s.members {
		w := messages.StatusWorker{ID: id, Live: m.live, Applied: m.applied, LastSeen: now.Sub(m.lastSeen).Round(time.Millisecond).String(), Stalled: m.stalled}
		if s.lastSeq > m.applied {
			w.Lag = s.lastSeq - m.applied
		}
		st.Workers = append(st.Workers, w)
	}
	sort.Slice(st.Workers, func(i, j int) bool { return st.Workers[i].ID < st.Workers[j].ID })
	return st
}
