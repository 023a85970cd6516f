package leader

import (
	"fmt"
	"io"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// LeaseOpKind is one operation of the lease campaign.
type LeaseOpKind uint8

const (
	// OpAcquire: take the lease if nobody holds it (Lease.TryAcquire).
	OpAcquire LeaseOpKind = iota + 1
	// OpRenew: extend the held lease (Lease.Renew).
	OpRenew
	// OpReadTail: read the last entry of the log (after winning).
	OpReadTail
	// OpAdvance: renew until the revision passes LeaseOp.Past.
	OpAdvance
	// OpRelease: give the lease up.
	OpRelease
)

func (k LeaseOpKind) String() string {
	return [...]string{"?", "acquire", "renew", "read-tail", "advance", "release"}[k]
}

// LeaseOp asks the Node to carry out one campaign operation (Lease.Do)
// and to report its result with Core.LeaseDone. The Core has at most one
// in flight.
type LeaseOp struct {
	Op   LeaseOpKind
	Past uint64 // OpAdvance: the revision must exceed it
}

// LeaseResult is the result of a LeaseOp.
type LeaseResult struct {
	Op   LeaseOpKind
	Rev  uint64 // acquire, renew, advance: the lease's revision
	Won  bool   // acquire: the lease is ours
	Lost bool   // renew, advance: another worker holds it
	Tail Tail   // read-tail
	Err  error  // a failure (Lost says whether it is final)
}

// Subscribe asks the Node to take the leader's subjects (forward, ack,
// status); a failure is reported with Core.StepDown.
type Subscribe struct{}

// Unsubscribe asks the Node to leave the leader's subjects.
type Unsubscribe struct{}

// SendStatus answers a status request.
type SendStatus struct {
	To     string
	Status messages.Status
}

func (LeaseOp) isAction()     {}
func (Subscribe) isAction()   {}
func (Unsubscribe) isAction() {}
func (SendStatus) isAction()  {}

// CoreConfig configures a Core.
type CoreConfig struct {
	ID string
	// LeaseTTL: how long a silent leader keeps the role.
	LeaseTTL time.Duration
	Timing   Timing
	Lookup   Lookup
	// EpochFloor is the highest epoch this worker's replica has applied.
	EpochFloor func() uint64
	// Rand supplies randomness for rewriting uuid() and kin.
	Rand io.Reader
	// Policy bounds the log and names where the members come from.
	Policy Policy
}

// Core is the leader side of a worker as one synchronous state machine,
// in the manner of go.etcd.io/raft's RawNode: the lease campaign and the
// Sequencer, with time, lease results, log results and messages as
// inputs, and Actions as outputs. It does no I/O; Node runs it on NATS,
// the simulation on its model. One goroutine owns it.
type Core struct {
	cfg CoreConfig
	seq *Sequencer

	// The campaign. Only one lease operation is in flight at a time
	// (busy); nextTry is when the next acquire or renew is due.
	busy    bool
	opStart time.Time // when the operation in flight was issued
	nextTry time.Time
	held    bool
	rev     uint64
	// until is when our hold surely ends: the TTL counted from before
	// the write that took or renewed the lease. Past it a paused leader
	// must not append, whatever it believes.
	until  time.Time
	resign bool // release once the operation in flight returns
	tail   Tail // read after winning, until the term starts
	// holdFor: after giving up because its replica lagged, this worker
	// campaigns again only once its replica has applied this seq, so a
	// caught-up worker can take over.
	holdFor uint64
	reads   reads // read-index requests (readindex.go)
}

// NewCore returns the core of worker cfg.ID, following.
func NewCore(cfg CoreConfig, now time.Time) *Core {
	c := &Core{cfg: cfg, seq: NewSequencer(cfg.ID, cfg.Timing, cfg.Lookup, cfg.Rand, now)}
	c.seq.SetPolicy(cfg.Policy)
	return c
}

// Sequencer is the core's sequencer, for status and checks.
func (c *Core) Sequencer() *Sequencer { return c.seq }

// HoldsLease reports whether the core believes it holds the lease.
func (c *Core) HoldsLease() bool { return c.held }

// campaignEvery is how often the lease is renewed (or tried for).
func (c *Core) campaignEvery() time.Duration { return c.cfg.LeaseTTL / 4 }

// Tick advances time: it renews or tries for the lease when due, gives up
// a lease that ran out, and ticks the sequencer.
func (c *Core) Tick(now time.Time) []Action {
	var acts []Action
	if c.seq.Leading() && now.After(c.until) {
		acts = c.stepDown(c.seq.StepDown("lease expired before renewal (paused or partitioned)"), now)
	}
	if !c.busy && !now.Before(c.nextTry) {
		switch {
		case c.held:
			acts = append(acts, c.issue(LeaseOp{Op: OpRenew}, now))
		case c.holdFor == 0 || c.selfApplied() >= c.holdFor:
			c.holdFor = 0
			acts = append(acts, c.issue(LeaseOp{Op: OpAcquire}, now))
		default:
			c.nextTry = now.Add(c.campaignEvery())
		}
	}
	return append(acts, c.post(c.seq.Tick(now), now)...)
}

func (c *Core) selfApplied() uint64 {
	if m := c.seq.members[c.cfg.ID]; m != nil {
		return m.applied
	}
	return 0
}

func (c *Core) issue(op LeaseOp, now time.Time) Action {
	c.busy, c.opStart = true, now
	return op
}

// LeaseDone reports the result of the LeaseOp in flight.
func (c *Core) LeaseDone(r LeaseResult, now time.Time) []Action {
	if !c.busy {
		return nil
	}
	c.busy = false
	var acts []Action
	switch r.Op {
	case OpAcquire:
		if r.Err != nil {
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("cannot try for the lease: %v", r.Err)})
		}
		if !r.Won {
			break
		}
		c.held, c.rev, c.until = true, r.Rev, c.opStart.Add(c.cfg.LeaseTTL)
		if c.resign {
			break
		}
		return append(acts, c.issue(LeaseOp{Op: OpReadTail}, now))
	case OpRenew:
		switch {
		case r.Err == nil:
			c.rev, c.until = r.Rev, c.opStart.Add(c.cfg.LeaseTTL)
		case r.Lost:
			c.held, c.until = false, time.Time{}
			c.resign = false
			acts = append(acts, c.stepDown(c.seq.StepDown("lease taken by another worker"), now)...)
		default:
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("cannot renew the lease: %v", r.Err)})
		}
	case OpReadTail:
		if r.Err != nil {
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("won the lease but cannot read the log: %v", r.Err)})
			c.resign = true
			break
		}
		// The epoch is the lease revision: unique to this acquisition, so
		// no two leaders share an epoch, and a leader that acquired earlier
		// has a lower one (replicas skip its late entries as stale). Only
		// a recreated lease bucket can be behind the log: move its
		// revision past the log's highest epoch (the tail may be a deposed
		// leader's lower one; our own replica knows the highest it applied).
		c.tail = r.Tail
		floor := r.Tail.Epoch
		if c.cfg.EpochFloor != nil {
			floor = max(floor, c.cfg.EpochFloor())
		}
		if c.rev <= floor {
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf(
				"lease revision %d is behind the log's epoch %d (was the lease bucket recreated?); advancing it", c.rev, floor)})
			return append(acts, c.issue(LeaseOp{Op: OpAdvance, Past: floor}, now))
		}
		return append(acts, c.lead(now)...)
	case OpAdvance:
		if r.Err != nil {
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("cannot advance the lease revision: %v", r.Err)})
			if r.Lost {
				c.held, c.until = false, time.Time{}
			} else {
				c.resign = true
			}
			break
		}
		c.rev = r.Rev
		return append(acts, c.lead(now)...)
	case OpRelease:
		c.held, c.until = false, time.Time{}
	}
	c.nextTry = now.Add(c.campaignEvery())
	if c.resign && c.held {
		c.resign = false
		c.until = time.Time{}
		acts = append(acts, c.issue(LeaseOp{Op: OpRelease}, now))
	}
	c.resign = false
	return acts
}

// lead starts the term the lease just won.
func (c *Core) lead(now time.Time) []Action {
	c.nextTry = now.Add(c.campaignEvery())
	acts := []Action{Subscribe{}}
	c.seq.SetLog(c.tail.FirstSeq, c.tail.SnapshotSeq)
	return append(acts, c.post(c.seq.Lead(c.rev, c.tail.LastSeq, c.tail.LastTS, now), now)...)
}

// Trimmed reports the result of a Trim: the log now starts at first.
func (c *Core) Trimmed(first uint64, err error, now time.Time) []Action {
	return c.post(c.seq.Trimmed(first, err), now)
}

// Remove handles an admin's request to remove member id.
func (c *Core) Remove(id, inbox string, now time.Time) []Action {
	return c.post(c.seq.Remove(id, inbox, now), now)
}

// Snapshot handles an admin's request for a snapshot now.
func (c *Core) Snapshot(inbox string, now time.Time) []Action {
	return c.post(c.seq.Snapshot(inbox, now), now)
}

// Forward handles a FORWARD; accept is the forwarding worker's inbox.
func (c *Core) Forward(f messages.Forward, accept string, now time.Time) []Action {
	return c.ForwardAdmitted(f, Admission{}, accept, now)
}

// ForwardAdmitted handles a FORWARD that passed the admission check, with
// what the check learned (Sequencer.ForwardAdmitted).
func (c *Core) ForwardAdmitted(f messages.Forward, adm Admission, accept string, now time.Time) []Action {
	if c.seq.IsReady() && now.After(c.until) {
		return c.stepDown(c.seq.StepDown("lease expired before renewal (paused or partitioned)"), now)
	}
	return c.post(c.seq.ForwardAdmitted(f, adm, accept, now), now)
}

// Ack handles an ACK.
func (c *Core) Ack(a messages.Ack, now time.Time) []Action { return c.post(c.seq.Ack(a, now), now) }

// Heartbeat handles a heartbeat.
func (c *Core) Heartbeat(h messages.Heartbeat, now time.Time) []Action {
	return c.post(c.seq.Heartbeat(h, now), now)
}

// Appended reports the result of an Append.
func (c *Core) Appended(epoch, seq uint64, err error, now time.Time) []Action {
	return c.post(c.seq.Appended(epoch, seq, err, now), now)
}

// StepDown ends leadership from outside the protocol (the leader's
// subjects could not be taken).
func (c *Core) StepDown(reason string, now time.Time) []Action {
	return c.stepDown(c.seq.StepDown(reason), now)
}

// Status answers a status request sent to inbox to.
func (c *Core) Status(to string, now time.Time) []Action {
	return []Action{SendStatus{To: to, Status: c.seq.Status(now)}}
}

// post checks the sequencer's actions before they leave: no append once
// the lease may have run out, and a step-down also leaves the leader's
// subjects and gives the lease up.
func (c *Core) post(acts []Action, now time.Time) []Action {
	acts = append(acts, c.serveReads(now)...)
	out := acts[:0:0]
	for i, a := range acts {
		switch a := a.(type) {
		case Append:
			if !c.seq.Leading() || c.seq.Epoch() != a.Order.Epoch {
				continue // a step-down in the same call
			}
			if now.After(c.until) {
				out = append(out, c.stepDown(c.seq.StepDown("lease expired before renewal (paused or partitioned)"), now)...)
				// The replies already decided still go out; appends stop.
				for _, b := range acts[i+1:] {
					if _, ok := b.(Append); !ok {
						out = append(out, c.stepDown([]Action{b}, now)...)
					}
				}
				return out
			}
			out = append(out, a)
		case Trim:
			// Purging is not fenced by the log like an append: only a
			// leader whose lease surely holds may do it.
			if c.seq.IsReady() && !now.After(c.until) {
				out = append(out, a)
			} else {
				out = append(out, c.post(c.seq.Trimmed(0, fmt.Errorf("not trimming: the lease may have run out")), now)...)
			}
		case StepDown:
			out = append(out, c.stepDown([]Action{a}, now)...)
		default:
			out = append(out, a)
		}
	}
	return out
}

// stepDown adds to a StepDown what leaving the role takes: the leader's
// subjects and the lease.
func (c *Core) stepDown(acts []Action, now time.Time) []Action {
	var out []Action
	for _, a := range acts {
		out = append(out, a)
		sd, ok := a.(StepDown)
		if !ok {
			continue
		}
		if sd.HoldFor > 0 {
			c.holdFor = sd.HoldFor
		}
		out = append(out, c.failReads(sd.Reason)...)
		out = append(out, Unsubscribe{})
		c.until = time.Time{}
		switch {
		case c.busy:
			c.resign = true
		case c.held:
			out = append(out, c.issue(LeaseOp{Op: OpRelease}, now))
		}
	}
	return out
}
