package leader

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

const ttl = 2 * time.Second

var coreTiming = Timing{HeartbeatTimeout: time.Second, AckTimeout: 3 * time.Second, CatchUpTimeout: 5 * time.Second}

type coreHarness struct {
	t     *testing.T
	c     *Core
	now   time.Time
	floor uint64
}

func newCore(t *testing.T) *coreHarness {
	h := &coreHarness{t: t, now: t0}
	h.c = NewCore(CoreConfig{
		ID: "s0", LeaseTTL: ttl, Timing: coreTiming,
		Lookup:     func(string) (messages.Outcome, bool) { return messages.Outcome{}, false },
		EpochFloor: func() uint64 { return h.floor }, Rand: bytes.NewReader(make([]byte, 1<<16)),
	}, t0)
	return h
}

// win takes the core through acquire and tail read to the start of a
// term of epoch rev after a log ending at lastSeq; it returns the actions
// of that last step.
func (h *coreHarness) win(rev, lastSeq uint64) []Action {
	h.t.Helper()
	op := one[LeaseOp](h.t, h.c.Tick(h.now))
	if op.Op != OpAcquire {
		h.t.Fatalf("first lease op %s, want acquire", op.Op)
	}
	op = one[LeaseOp](h.t, h.c.LeaseDone(LeaseResult{Op: OpAcquire, Rev: rev, Won: true}, h.now))
	if op.Op != OpReadTail {
		h.t.Fatalf("after winning: %s, want read-tail", op.Op)
	}
	acts := h.c.LeaseDone(LeaseResult{Op: OpReadTail, Tail: Tail{LastSeq: lastSeq, Epoch: 1}}, h.now)
	one[Subscribe](h.t, acts)
	return acts
}

func TestCoreCampaignsThenLeadsAfterTheTail(t *testing.T) {
	h := newCore(t)
	ap := one[Append](t, h.win(9, 40))
	if ap.Order.Kind != messages.OrderEpoch || ap.Order.Seq != 41 || ap.Order.Epoch != 9 {
		t.Fatalf("marker %+v, want epoch 9 at seq 41", ap.Order)
	}
	// Only one lease operation at a time, renewals every TTL/4.
	none[LeaseOp](t, h.c.Tick(h.now.Add(ttl/8)))
	h.now = h.now.Add(ttl / 4)
	if op := one[LeaseOp](t, h.c.Tick(h.now)); op.Op != OpRenew {
		t.Fatalf("op %s, want renew", op.Op)
	}
	none[LeaseOp](t, h.c.Tick(h.now.Add(ttl/2)))
}

func TestCoreAdvancesARevisionBehindTheLog(t *testing.T) {
	h := newCore(t)
	h.floor = 30 // the replica applied epoch 30: the bucket was recreated
	one[LeaseOp](t, h.c.Tick(h.now))
	h.c.LeaseDone(LeaseResult{Op: OpAcquire, Rev: 3, Won: true}, h.now)
	op := one[LeaseOp](t, h.c.LeaseDone(LeaseResult{Op: OpReadTail, Tail: Tail{LastSeq: 5, Epoch: 12}}, h.now))
	if op.Op != OpAdvance || op.Past != 30 {
		t.Fatalf("op %+v, want advance past 30", op)
	}
	ap := one[Append](t, h.c.LeaseDone(LeaseResult{Op: OpAdvance, Rev: 31}, h.now))
	if ap.Order.Epoch != 31 {
		t.Fatalf("epoch %d, want 31", ap.Order.Epoch)
	}
}

func TestCoreStepsDownWhenTheLeaseIsTaken(t *testing.T) {
	h := newCore(t)
	h.win(9, 40)
	h.now = h.now.Add(ttl / 4)
	one[LeaseOp](t, h.c.Tick(h.now))
	acts := h.c.LeaseDone(LeaseResult{Op: OpRenew, Lost: true, Err: ErrLeaseLost}, h.now)
	one[StepDown](t, acts)
	one[Unsubscribe](t, acts)
	none[LeaseOp](t, acts) // nothing to release: it is not ours
	if h.c.Sequencer().Leading() || h.c.HoldsLease() {
		t.Fatal("still leading after losing the lease")
	}
}

// TestCoreNeverAppendsPastItsLease: a leader whose renewals stopped
// reaching the bucket (partitioned) or that was paused stops appending
// once its hold may have run out, and gives the role up.
func TestCoreNeverAppendsPastItsLease(t *testing.T) {
	h := newCore(t)
	h.win(9, 40)
	h.c.Appended(9, 41, nil, h.now)
	h.c.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 41}, h.now)
	h.now = h.now.Add(coreTiming.HeartbeatTimeout)
	acts := h.c.Tick(h.now)
	for i := 0; i < 3 && len(all[Ready](acts)) == 0; i++ { // renewals succeed meanwhile
		if op, ok := firstOf[LeaseOp](acts); ok && op.Op == OpRenew {
			h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 10}, h.now)
		}
		acts = h.c.Tick(h.now)
	}
	if !h.c.Sequencer().IsReady() {
		t.Fatal("not ready")
	}
	// A renewal is issued and never answers; the TTL passes.
	h.now = h.now.Add(ttl + time.Millisecond)
	acts = h.c.Forward(messages.Forward{RequestID: "r", Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s1"}, "acc", h.now)
	none[Append](t, acts)
	one[StepDown](t, acts)
	one[Unsubscribe](t, acts)
}

// TestCoreGivesUpWhenItsReplicaLags: a worker that wins the lease while
// its own replica is far behind gives it up after CatchUpTimeout, and does
// not campaign again until its replica has reached the marker, so a
// caught-up worker takes over (issue: a lagging leader held every write
// hostage).
func TestCoreGivesUpWhenItsReplicaLags(t *testing.T) {
	h := newCore(t)
	h.c.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 100}, h.now)
	h.win(9, 50_000)
	h.c.Appended(9, 50_001, nil, h.now)
	renew := func() {
		if op, ok := firstOf[LeaseOp](h.c.Tick(h.now)); ok && op.Op == OpRenew {
			h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 10}, h.now)
		}
	}
	for h.now.Sub(t0) < coreTiming.CatchUpTimeout {
		h.now = h.now.Add(ttl / 4)
		renew()
		if h.c.Sequencer().IsReady() || !h.c.Sequencer().Leading() {
			t.Fatalf("ready=%v leading=%v before the replica caught up", h.c.Sequencer().IsReady(), h.c.Sequencer().Leading())
		}
	}
	h.now = h.now.Add(ttl / 4)
	acts := h.c.Tick(h.now)
	sd := one[StepDown](t, acts)
	if sd.HoldFor != 50_001 || !strings.Contains(sd.Reason, "seq 100") {
		t.Fatalf("step-down %+v", sd)
	}
	one[Unsubscribe](t, acts)
	op, ok := firstOf[LeaseOp](acts)
	if !ok || op.Op != OpRelease {
		// A renewal may be in flight: then the release follows its result.
		op = one[LeaseOp](t, h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 11}, h.now))
	}
	if op.Op != OpRelease {
		t.Fatalf("op %s, want release", op.Op)
	}
	h.c.LeaseDone(LeaseResult{Op: OpRelease}, h.now)
	for range 20 { // no campaign while the replica lags
		h.now = h.now.Add(ttl / 4)
		none[LeaseOp](t, h.c.Tick(h.now))
	}
	h.c.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 50_001}, h.now)
	h.now = h.now.Add(ttl / 4)
	if op := one[LeaseOp](t, h.c.Tick(h.now)); op.Op != OpAcquire {
		t.Fatalf("op %s, want acquire once caught up", op.Op)
	}
}

func TestCoreReleasesALeaseWhoseTailCannotBeRead(t *testing.T) {
	h := newCore(t)
	one[LeaseOp](t, h.c.Tick(h.now))
	h.c.LeaseDone(LeaseResult{Op: OpAcquire, Rev: 4, Won: true}, h.now)
	acts := h.c.LeaseDone(LeaseResult{Op: OpReadTail, Err: errors.New("nats: timeout")}, h.now)
	if op := one[LeaseOp](t, acts); op.Op != OpRelease {
		t.Fatalf("op %s, want release", op.Op)
	}
	none[Subscribe](t, acts)
}

// TestCoreIsDeterministic: the same inputs give the same actions, in the
// same order (members and waiters are iterated sorted), so a replay of the
// simulation needs no re-sorting.
func TestCoreIsDeterministic(t *testing.T) {
	run := func() string {
		h := newCore(t)
		for _, w := range []string{"s4", "s1", "s3", "s2", "s0"} {
			h.c.Heartbeat(messages.Heartbeat{Worker: w, Applied: 40}, h.now)
		}
		h.win(9, 40)
		h.now = h.now.Add(5 * time.Second) // every other worker silent
		var b strings.Builder
		for _, a := range h.c.Tick(h.now) {
			if n, ok := a.(Notice); ok {
				b.WriteString(n.Msg + "\n")
			}
		}
		return b.String()
	}
	first := run()
	if strings.Count(first, "is out") != 4 {
		t.Fatalf("want 4 workers out, got:\n%s", first)
	}
	for range 20 {
		if got := run(); got != first {
			t.Fatalf("actions differ between runs:\n%s\nvs\n%s", got, first)
		}
	}
}

func firstOf[T Action](acts []Action) (T, bool) {
	xs := all[T](acts)
	if len(xs) == 0 {
		var zero T
		return zero, false
	}
	return xs[0], true
}
