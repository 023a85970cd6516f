package simulation

import (
	"fmt"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// readProbeEvery paces the read-index requests of the simulated reader.
const readProbeEvery = 150 * time.Millisecond

// readProbe is a worker asking for a read index (worker/reads.go): it
// publishes a ReadIndex to whoever is subscribed to the leader's subjects
// and notes the highest seq any SUCCESS had been sent for by then, and the
// log's end: a replica applies an entry once it is in the log, so a read
// that began earlier may have shown it. Every index a leader hands out
// for the request must cover both (Env.ReadIndex): a linearizable read must
// see every write acknowledged, or possibly seen, before it began. (An
// index may lie beyond the log's end: the leader's appends in flight.)
func (s *Sim) readProbe() {
	if s.healed && s.clientsDone == len(s.clients) {
		return
	}
	s.after(readProbeEvery, s.readProbe)
	s.reads++
	to := fmt.Sprintf("_INBOX.read.%d", s.reads)
	s.readFloor[to] = max(s.ackedSeq, s.lastApplicable())
	for _, l := range s.leaders() {
		s.sendTo(l, true, "read index "+to, func() { l.do(l.core.ReadIndex(to, l.clock())) })
	}
}

// lastApplicable is the seq of the log's last entry a replica applies: an
// ORDER of an epoch older than one before it (a deposed leader's append
// that slipped in) is skipped, so no read shows it.
func (s *Sim) lastApplicable() uint64 {
	var last, epoch uint64
	for i, e := range s.log {
		if e.order.Epoch >= epoch {
			last, epoch = uint64(i+1), e.order.Epoch
		}
	}
	return last
}

// ReadIndex answers a read-index request: checked against what was
// acknowledged before the request was sent.
func (n *node) ReadIndex(to string, r messages.ReadIndexReply) {
	s := n.s
	floor, ok := s.readFloor[to]
	if !ok {
		s.fail("%s answered a read index to unknown inbox %q", n.id, to)
		return
	}
	if r.Code != messages.CodeOK {
		s.debugf("%s refuses read index %s: %s", n.id, to, r.Error)
		return
	}
	if r.Lease {
		s.count("read index under the lease")
	} else {
		s.count("read index through the log")
	}
	// An index confirmed under the lease relies on the lease key living
	// its TTL; the fault that removes it early breaks that assumption
	// (README: Read consistency), so such an index is not held to it.
	if e, ok := s.leaseCut[n.id]; r.Lease && ok && s.now.Sub(e) < leaseTTL {
		s.count("lease read while the lease was cut short")
		return
	}
	if r.Seq < floor {
		s.fail("%s handed out read index %d (epoch %d) for %s, but seq %d was acknowledged or in the log before the request: a read at it may be stale",
			n.id, r.Seq, r.Epoch, to, floor)
	}
	s.tracef("%s read index %d for %s (acknowledged up to %d)", n.id, r.Seq, to, floor)
}
