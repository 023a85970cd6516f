package simulation

import (
	"fmt"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// client sends its writes one at a time, each under its own request id,
// retrying the same id until it gets a reply (client.Client.request with
// retries and no overall deadline).
type client struct {
	s      *Sim
	id     int
	writes int // how many to send
	issued int
	cur    *write
	acks   []ack // SUCCESS replies, in the order received
}

type write struct {
	reqID, stmt string
	attempt     int
	since       time.Time
	backoff     time.Duration
}

type ack struct {
	reqID string
	seq   uint64
	index uint32
}

// next sends the client's next write, or finishes it.
func (c *client) next() {
	s := c.s
	if c.issued == c.writes {
		s.clientsDone++
		s.tracef("client c%d done: %d writes acknowledged", c.id, len(c.acks))
		return
	}
	c.issued++
	c.cur = &write{
		reqID: fmt.Sprintf("c%d-%d", c.id, c.issued),
		stmt:  fmt.Sprintf("UPDATE t SET a = a + [%d] WHERE k = 1", c.id*1000+c.issued),
		since: s.now, backoff: clientBackoff,
	}
	c.attempt()
}

// attempt sends the current write to a random worker (db.request.<ID>).
func (c *client) attempt() {
	s := c.s
	w := c.cur
	w.attempt++
	try := w.attempt
	n := s.nodes[s.rng.IntN(len(s.nodes))]
	to := fmt.Sprintf("_INBOX.c%d.%s.%d", c.id, w.reqID, try)
	s.inboxes[to] = inbox{c: c, w: w, try: try}
	retry := func() {
		if c.cur == w && w.attempt == try {
			c.attempt()
		}
	}
	s.tracef("client c%d sends %s to %s (attempt %d)", c.id, w.reqID, n.id, try)
	if n.down || n.partitioned { // nats.ErrNoResponders: wait a little, then retry
		s.after(c.backoff(), retry)
		return
	}
	s.sendTo(n, false, "request "+w.reqID, func() { n.onRequest(w.reqID, w.stmt, to) })
	s.after(clientAttempt, retry)
}

func (c *client) backoff() time.Duration {
	d := c.cur.backoff
	c.cur.backoff = min(2*d, clientBackoffMax)
	return d
}

// onReply is a reply reaching the client's inbox of one attempt.
func (c *client) onReply(w *write, try int, r messages.Reply) {
	s := c.s
	if c.cur != w || w.attempt != try {
		return // the attempt is over: nats.go drops a late reply
	}
	switch {
	case r.Status == messages.StatusSuccess:
		s.tracef("client c%d: %s SUCCESS seq %d.%d (by %s, %d attempts)", c.id, w.reqID, r.Seq, r.Index, r.Server, w.attempt)
		c.acks = append(c.acks, ack{w.reqID, r.Seq, r.Index})
		c.cur = nil
		s.after(s.jitter(0, 200*time.Millisecond), c.next)
	case messages.ParseCode(r.Code) == messages.CodeUnavailable:
		s.tracef("client c%d: %s UNAVAILABLE, retrying", c.id, w.reqID)
		d := c.backoff()
		s.after(d, func() {
			if c.cur == w && w.attempt == try {
				c.attempt()
			}
		})
	default:
		// Every statement is valid: an error is the protocol's.
		s.fail("client c%d: write %s got %s %s: %s (seq %d)", c.id, w.reqID, r.Status, r.Code, r.Error, r.Seq)
	}
}

// respond sends a reply from a worker or leader to a client inbox.
func (s *Sim) respond(by *node, to string, r messages.Reply) {
	in, ok := s.inboxes[to]
	if ok && in.admin {
		s.tracef("%s answers the admin: %s %s %s (seq %d)", by.id, r.Status, r.Code, r.Error, r.Seq)
		if r.Status == messages.StatusSuccess {
			s.count("admin request done")
		}
		return
	}
	if !ok || in.c == nil {
		s.fail("%s replied to unknown inbox %q", by.id, to)
		return
	}
	if r.Status == messages.StatusSuccess {
		s.okReplies = append(s.okReplies, sentReply{by: by.id, reply: r})
		s.ackedSeq = max(s.ackedSeq, r.Seq)
		s.checkSuccess(by, r)
	}
	s.debugf("%s replies %s %s seq %d to %s", by.id, r.Status, r.Code, r.Seq, to)
	c, w, try := in.c, in.w, in.try
	again := s.handedAgain[to]
	by.emit(func() {
		s.send("reply to "+to, func() {
			if again && c.cur == w && w.attempt == try && r.Status == messages.StatusSuccess {
				s.count("answered after a hand-over again")
			}
			c.onReply(w, try, r)
		})
	})
}
