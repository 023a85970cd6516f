package simulation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// decision is how the first replica processed a log position.
type decision struct {
	stepRec
	set  bool
	code messages.Code // of a skip
}

// observeStep checks, as it happens, that every replica processes every log
// position the same way (invariant 1: one order, the same on every replica;
// a deposed leader's entries skipped by all alike).
func (s *Sim) observeStep(n *node, st worker.Step) {
	d := decision{stepRec: stepRec{kind: st.Kind, reqIDs: strings.Join(reqIDs(st.Order), " "), epoch: st.Order.Epoch}, set: true}
	if st.Kind == worker.StepSkip {
		d.code = st.Outcome.Code
	}
	for uint64(len(s.decided)) < st.Seq {
		s.decided = append(s.decided, decision{})
	}
	prev := &s.decided[st.Seq-1]
	switch {
	case !prev.set:
		*prev = d
		if st.Kind == worker.StepApply {
			s.checkTimestamps(st.Order)
		}
	case prev.stepRec != d.stepRec || prev.code != d.code:
		s.fail("replicas disagree on seq %d: %s processed it as %s, an earlier replica as %s", st.Seq, n.id, d.stepRec, prev.stepRec)
	}
}

// checkTimestamps: write timestamps grow in log order among the writes
// replicas apply. Cassandra keeps the cell with the highest timestamp, so a
// later write with an earlier timestamp would silently lose to the one
// before it on every replica (invariant 3: the leader assigns the
// timestamps, whatever the machines' clocks). Replicas decide in log order,
// so the first decision on each seq comes in log order too.
func (s *Sim) checkTimestamps(o messages.Order) {
	if o.Timestamp <= s.lastTS {
		s.fail("seq %d (%s) has write timestamp %d, not after the %d of seq %d (%s)",
			o.Seq, kindOf(o), o.Timestamp, s.lastTS, s.lastTSAt.Seq, kindOf(s.lastTSAt))
	}
	s.lastTS, s.lastTSAt = o.WriteTimestamp(len(o.Writes)-1), o
}

// checkSuccess checks a SUCCESS reply as it is sent: the write is in the
// log at the seq and index the reply names, and replicas applied it there.
func (s *Sim) checkSuccess(by *node, r messages.Reply) {
	switch {
	case r.Seq == 0 || r.Seq > uint64(len(s.log)):
		s.fail("%s replied SUCCESS for %s at seq %d, beyond the log (%d entries)", by.id, r.RequestID, r.Seq, len(s.log))
	case int(r.Index) >= len(s.log[r.Seq-1].order.Writes) || s.log[r.Seq-1].order.Writes[r.Index].RequestID != r.RequestID:
		s.fail("%s replied SUCCESS for %s at seq %d.%d, which holds %s", by.id, r.RequestID, r.Seq, r.Index, kindOf(s.log[r.Seq-1].order))
	case r.Seq > uint64(len(s.decided)) || !s.decided[r.Seq-1].set:
		s.fail("%s replied SUCCESS for %s at seq %d before any replica applied it", by.id, r.RequestID, r.Seq)
	case s.decided[r.Seq-1].kind != worker.StepApply:
		s.fail("%s replied SUCCESS for %s at seq %d, which replicas %s", by.id, r.RequestID, r.Seq, s.decided[r.Seq-1])
	case by.ks.record[r.RequestID] != messages.Outcome{Seq: r.Seq, Index: r.Index}:
		// Whatever the consistency level, the leader's own replica has it.
		s.fail("%s replied SUCCESS for %s at seq %d.%d before its own replica applied it", by.id, r.RequestID, r.Seq, r.Index)
	}
}

// checkReady: a leader serves writes only once its epoch marker is in the
// log (Sequencer.startupDone: "the marker is in the log"): the marker is
// what fences every earlier leader, and what makes its replica's
// exactly-once record complete.
func (s *Sim) checkReady(n *node, r leader.Ready) {
	var why string
	switch {
	case r.Seq > uint64(len(s.log)):
		why = fmt.Sprintf("%s ready in epoch %d before its marker seq %d is in the log (the log ends at %d)", n.id, r.Epoch, r.Seq, len(s.log))
	case s.log[r.Seq-1].order.Kind != messages.OrderEpoch || s.log[r.Seq-1].order.Epoch != r.Epoch || s.log[r.Seq-1].order.Leader != n.id:
		o := s.log[r.Seq-1].order
		why = fmt.Sprintf("%s ready in epoch %d, but seq %d is not its marker: it holds %s, epoch %d", n.id, r.Epoch, r.Seq, kindOf(o), o.Epoch)
	default:
		return
	}
	s.fail("%s", why)
}

// check runs the end-of-run invariants over the quiescent system.
func (s *Sim) check() {
	if err := s.checkRun(); err != "" {
		s.fail("%s", err)
	}
}

func (s *Sim) checkRun() string {
	last := uint64(len(s.log))
	// (1) Every replica processed every entry, the same way (observeStep
	// compared them as they happened), and its durable history of applied
	// writes is the same: no gap, no repeat.
	if uint64(len(s.decided)) != last {
		return fmt.Sprintf("replicas processed %d positions of a log of %d", len(s.decided), last)
	}
	var want []appliedWrite
	for i, d := range s.decided {
		if !d.set {
			return fmt.Sprintf("no replica processed seq %d", i+1)
		}
		if d.kind == worker.StepApply {
			for k, w := range s.log[i].order.Writes {
				want = append(want, appliedWrite{uint64(i + 1), uint32(k), w.RequestID})
			}
		}
	}
	for _, n := range s.nodes {
		if n == s.broken {
			continue // it never could apply: the check is that the rest went on
		}
		if got := n.rep.Applied(); got != last {
			return fmt.Sprintf("%s applied up to %d of %d", n.id, got, last)
		}
		if !slices.Equal(n.ks.history, want) {
			return fmt.Sprintf("%s's applied writes differ from the log's: %v, want %v", n.id, n.ks.history, want)
		}
	}

	// (2) Epochs never go back among the entries replicas apply; a skip is
	// only ever of a deposed leader's entry (never garbage); each epoch has
	// one appender (also checked at each append).
	var top uint64
	appender := map[uint64]string{}
	for i, e := range s.log {
		o, d := e.order, s.decided[i]
		if who, ok := appender[o.Epoch]; ok && who != o.Leader {
			return fmt.Sprintf("epoch %d appended by %s and %s", o.Epoch, who, o.Leader)
		}
		appender[o.Epoch] = o.Leader
		if d.kind == worker.StepSkip {
			if d.code != messages.CodeStale || o.Epoch >= top {
				return fmt.Sprintf("seq %d skipped (code %s) but its epoch %d is not stale (current %d)", i+1, d.code, o.Epoch, top)
			}
			continue
		}
		if o.Epoch < top {
			return fmt.Sprintf("seq %d applied with epoch %d after epoch %d", i+1, o.Epoch, top)
		}
		top = o.Epoch
	}

	// (3) Exactly once: no request id applied twice; every SUCCESS names
	// the one seq its write was applied at.
	at := map[string]appliedWrite{}
	for _, w := range want {
		if prev, ok := at[w.reqID]; ok {
			return fmt.Sprintf("%s applied twice: seq %d.%d and %d.%d", w.reqID, prev.seq, prev.index, w.seq, w.index)
		}
		at[w.reqID] = w
	}
	for _, r := range s.okReplies {
		if w, ok := at[r.reply.RequestID]; !ok || w.seq != r.reply.Seq || w.index != r.reply.Index {
			return fmt.Sprintf("%s replied SUCCESS for %s at seq %d.%d; it was applied at %d.%d", r.by, r.reply.RequestID, r.reply.Seq, r.reply.Index, w.seq, w.index)
		}
	}
	// (4) A client's acknowledged writes are in the log in the order it
	// was told SUCCESS; every write it sent was acknowledged.
	for _, c := range s.clients {
		if len(c.acks) != c.writes {
			return fmt.Sprintf("client c%d has %d of %d writes acknowledged", c.id, len(c.acks), c.writes)
		}
		var prev appliedWrite
		for _, a := range c.acks {
			w, ok := at[a.reqID]
			if !ok || w.seq != a.seq || w.index != a.index {
				return fmt.Sprintf("client c%d was told %s is at seq %d.%d; it was applied at %d.%d", c.id, a.reqID, a.seq, a.index, w.seq, w.index)
			}
			if w.seq < prev.seq || w.seq == prev.seq && w.index <= prev.index {
				return fmt.Sprintf("client c%d: %s acknowledged after %s, but it is before it in the log", c.id, a.reqID, prev.reqID)
			}
			prev = w
		}
	}
	return ""
}

// checkTrim: a trim never removes an entry the newest complete snapshot
// does not cover (beyond Retain), nor one a member has not recorded as
// applied (a member keeps its entries until it is removed). Members are
// those the log held when the leader decided (decidedAt): one that joins
// while the purge is on its way may find the log trimmed past the snapshot
// it just restored, and restores again (worker.Behind).
func (s *Sim) checkTrim(by *node, keepFrom, decidedAt uint64) {
	if keepFrom <= s.first {
		return
	}
	snap := s.latest()
	if keepFrom > snap.seq+1 {
		s.fail("%s trims the log below seq %d, past the newest snapshot (seq %d)", by.id, keepFrom, snap.seq)
		return
	}
	members := s.logMembers()
	for _, n := range s.nodes {
		mb, ok := members[n.id]
		if ok && mb.Seq <= decidedAt && mb.Gen == n.ks.gen && !mb.Removed && n.ks.applied+1 < keepFrom {
			s.fail("%s trims the log below seq %d, but member %s (generation %s) has applied only %d", by.id, keepFrom, n.id, n.ks.gen, n.ks.applied)
		}
	}
}

// checkSnapshot: a snapshot at seq is exactly the state at seq: every
// write the log holds up to seq, nothing after it.
func (s *Sim) checkSnapshot(by *node, seq uint64, ks *keyspace) {
	var want []appliedWrite
	for i := uint64(0); i < seq && int(i) < len(s.decided); i++ {
		if s.decided[i].set && s.decided[i].kind == worker.StepApply {
			for k, w := range s.log[i].order.Writes {
				want = append(want, appliedWrite{i + 1, uint32(k), w.RequestID})
			}
		}
	}
	if !slices.Equal(ks.history, want) {
		s.fail("%s's snapshot at seq %d holds %v, want the writes up to seq %d: %v", by.id, seq, ks.history, seq, want)
	}
}

// logMembers is the membership the log defines: its membership ORDERs in
// order, but for those replicas skip as a deposed leader's.
func (s *Sim) logMembers() map[string]messages.Member {
	out := map[string]messages.Member{}
	var top uint64
	for _, e := range s.log {
		o := e.order
		if o.Epoch < top {
			continue // stale: skipped by every replica
		}
		top = o.Epoch
		if o.Kind == messages.OrderMember {
			out[o.Member.ID] = messages.Member{ID: o.Member.ID, Gen: o.Member.Gen, Removed: o.Member.Op == messages.MemberRemove, Seq: o.Seq}
		}
	}
	return out
}
