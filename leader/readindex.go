package leader

import (
	"fmt"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// SendReadIndex answers a worker's ReadIndex request.
type SendReadIndex struct {
	To    string
	Reply messages.ReadIndexReply
}

func (SendReadIndex) isAction() {}

// maxReadsWaiting bounds the read-index requests a leader holds (until it
// is ready, or until a log confirmation returns); beyond it a request is
// answered UNAVAILABLE at once and the worker asks again.
const maxReadsWaiting = 10000

// reads is the Core's read-index state. A read index is a seq covering
// every write acknowledged before the request arrived, and every write a
// replica may already show: replicas apply an entry as soon as it is in
// the log, before the leader hears that its append succeeded, so a read
// elsewhere may have seen a write still being appended, and a later read
// must see it too. So the index is the highest seq this leader has handed
// to the log, appended or not yet, provided no other leader has appended
// since. (The index was once the last seq known appended: the chaos test's
// porcupine check caught a linearizable read that saw an append in flight,
// then a later one on another replica that did not.)
// The lease proves that when it surely holds (by this leader's own clock,
// with a margin: a paused or partitioned leader's view of time is what the
// margin guards); otherwise the log does: an epoch marker appended again
// with the expected last seq succeeds only if nobody else appended, and
// its seq is then the read index (a "log read", as Raft's ReadIndex with a
// heartbeat round).
type reads struct {
	next    []string // inboxes waiting for the next confirmation
	wait    []string // inboxes waiting for the barrier in flight
	barrier uint64   // seq of the marker appended for wait (0: none)
	byLease uint64   // counters, for tests and metrics
	byLog   uint64
}

// readLeaseMargin is the part of the lease a leader does not rely on for
// reads: it answers from the lease only while it holds for this long yet.
func (c *Core) readLeaseMargin() time.Duration { return c.cfg.LeaseTTL / 4 }

// leaseSafe: the lease surely holds for the margin yet, so no other worker
// can have taken it and appended.
func (c *Core) leaseSafe(now time.Time) bool {
	return c.held && c.seq.IsReady() && now.Add(c.readLeaseMargin()).Before(c.until)
}

// ReadStats counts how read indexes were confirmed.
type ReadStats struct{ ByLease, ByLog uint64 }

// ReadStats returns the core's read-index counters.
func (c *Core) ReadStats() ReadStats {
	return ReadStats{ByLease: c.reads.byLease, ByLog: c.reads.byLog}
}

// ReadIndex handles a worker's request for a read index; to is its inbox.
func (c *Core) ReadIndex(to string, now time.Time) []Action {
	if !c.seq.Leading() {
		return []Action{c.readFailure(to, fmt.Sprintf("worker %s does not lead", c.cfg.ID))}
	}
	if len(c.reads.next)+len(c.reads.wait) >= maxReadsWaiting {
		return []Action{c.readFailure(to, fmt.Sprintf("leader %s holds %d read-index requests; retry later", c.cfg.ID, maxReadsWaiting))}
	}
	c.reads.next = append(c.reads.next, to)
	return c.post(nil, now)
}

func (c *Core) readFailure(to, why string) Action {
	return SendReadIndex{To: to, Reply: messages.ReadIndexReply{Code: messages.CodeUnavailable, Error: why}}
}

// serveReads answers what can be answered now: the barrier's reads once
// it is in the log, the waiting ones from the lease or with a new barrier.
// It runs after every event the Core handles (post).
func (c *Core) serveReads(now time.Time) []Action {
	if !c.seq.IsReady() {
		return nil // held until the term starts (or failed at step-down)
	}
	var acts []Action
	answer := func(inboxes []string, seq uint64, lease bool) {
		for _, to := range inboxes {
			acts = append(acts, SendReadIndex{To: to, Reply: messages.ReadIndexReply{Epoch: c.seq.Epoch(), Seq: seq, Lease: lease}})
		}
	}
	if c.reads.barrier != 0 && c.seq.AppendedTo() >= c.reads.barrier {
		answer(c.reads.wait, c.reads.barrier, false)
		c.reads.byLog += uint64(len(c.reads.wait))
		c.reads.wait, c.reads.barrier = nil, 0
	}
	if len(c.reads.next) == 0 {
		return acts
	}
	if c.leaseSafe(now) {
		answer(c.reads.next, c.seq.Assigned(), true)
		c.reads.byLease += uint64(len(c.reads.next))
		c.reads.next = nil
		return acts
	}
	if c.reads.barrier != 0 {
		return acts // the next barrier goes once this one is back
	}
	o := c.seq.barrier(now)
	c.reads.barrier = o.Seq
	c.reads.wait, c.reads.next = c.reads.next, nil
	return append(acts, Append{Order: o})
}

// failReads answers every waiting read-index request: this worker no
// longer leads; the workers ask again (the next leader).
func (c *Core) failReads(reason string) []Action {
	var acts []Action
	for _, to := range append(c.reads.wait, c.reads.next...) {
		acts = append(acts, c.readFailure(to, fmt.Sprintf("leader %s stepped down (%s)", c.cfg.ID, reason)))
	}
	c.reads.wait, c.reads.next, c.reads.barrier = nil, nil, 0
	return acts
}

// Assigned is the highest seq this leader has handed to the log, whether
// its append has come back or not (the tail it started after, before it
// appended anything).
func (s *Sequencer) Assigned() uint64 { return s.lastSeq }

// AppendedTo is the highest seq such that it and everything before it is
// in the log as far as this leader knows: the last appended entry of this
// term, or the tail it started after.
func (s *Sequencer) AppendedTo() uint64 {
	for _, e := range s.pending {
		if !e.appended {
			return e.seq - 1
		}
	}
	return s.lastSeq
}

// barrier appends this term's epoch marker again, as a read barrier: it
// changes no data, and its append succeeds only while no other leader has
// appended. The caller sends the Append.
func (s *Sequencer) barrier(now time.Time) messages.Order {
	e := &entry{seq: s.nextSeq(), appendedAt: now}
	s.pending = append(s.pending, e)
	s.inflight++
	return messages.Order{Epoch: s.epoch, Seq: e.seq, Kind: messages.OrderEpoch, Timestamp: s.nextTS(now), Leader: s.id}
}
