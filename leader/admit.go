package leader

import (
	"crypto/rand"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/check"
	"github.com/chorusdb/chorus/messages"
)

// admitForward runs the receiving worker's checks again on a FORWARD before
// the sequencer sees it (defence in depth, DESIGN invariant 11): a FORWARD
// that fails them did not come from a worker's checks, so it is dropped,
// counted (Stats.Rejected) and logged.
// The sender gets no answer: a real worker never sends such a FORWARD, and
// a forger learns nothing. What the checks learned goes to the sequencer
// with the FORWARD (Admitted): nothing of it comes from the sender.
func (n *Node) admitForward(m *nats.Msg, f *messages.Forward) (Admission, bool) {
	st, err := check.Forward(*f, n.cfg.Subjects, time.Now(), rand.Reader)
	if err != nil {
		n.rejected.Add(1)
		n.log.Warn("dropped a FORWARD that fails the admission checks", "subject", m.Subject,
			"origin", f.Origin, "request_id", f.RequestID, "err", err)
		return Admission{}, false
	}
	return Admitted(*f, st), true
}
