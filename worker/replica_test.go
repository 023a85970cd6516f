package worker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

func testReplica(maxHeld int) *Replica {
	cfg := DefaultReplicaConfig("s1")
	cfg.MaxHeld, cfg.MaxWrites = maxHeld, 16
	return NewReplica(cfg, 0, 0, t0())
}

func only[T ReplicaAction](t *testing.T, acts []ReplicaAction) T {
	t.Helper()
	var found []T
	for _, a := range acts {
		if x, ok := a.(T); ok {
			found = append(found, x)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %T in %#v", *new(T), acts)
	}
	return found[0]
}

func okOutcomes(orders []messages.Order) [][]messages.Outcome {
	outs := make([][]messages.Outcome, len(orders))
	for n, o := range orders {
		for i := range o.Writes {
			outs[n] = append(outs[n], messages.Outcome{Seq: o.Seq, Index: uint32(i)})
		}
	}
	return outs
}

// TestReplicaPushesBackAndLosesNothing: a consumer delivers a log 100
// times the replica's bound as fast as it can, the store taking one run
// at a time. The replica refuses what it cannot hold (the consumer keeps
// it and waits), applies every entry once in order, and ACKs them all.
func TestReplicaPushesBackAndLosesNothing(t *testing.T) {
	const bound, total = 8, 800
	r := testReplica(bound)
	now := t0()
	var pending []ApplyRun
	var acked uint64
	var applied []uint64
	refused := 0
	handle := func(acts []ReplicaAction) {
		for _, a := range acts {
			switch a := a.(type) {
			case ApplyRun:
				pending = append(pending, a)
			case SendAck:
				if a.Ack.Applied <= acked {
					t.Fatalf("ACK of %d after %d", a.Ack.Applied, acked)
				}
				acked = a.Ack.Applied
			case RestartConsumer:
				t.Fatalf("in-order delivery made the replica restart its consumer: %s", a.Reason)
			}
		}
	}
	next := uint64(1)
	for acked < total {
		for next <= total {
			taken, acts := r.Deliver(next, order(next, 1), total-next, now)
			handle(acts)
			if !taken {
				refused++
				break
			}
			next++
		}
		if r.Stats().Held > bound+1 {
			t.Fatalf("holds %d entries over its bound of %d", r.Stats().Held, bound)
		}
		if len(pending) != 1 {
			t.Fatalf("%d runs with the store at once", len(pending))
		}
		run := pending[0]
		pending = pending[1:]
		for _, st := range run.Steps {
			applied = append(applied, st.Seq)
		}
		handle(r.Stored(okOutcomes(run.Orders), nil, now))
	}
	if refused == 0 {
		t.Fatal("the replica never pushed back: the test says nothing")
	}
	for i, seq := range applied {
		if seq != uint64(i+1) {
			t.Fatalf("applied[%d] = seq %d", i, seq)
		}
	}
	if len(applied) != total || r.Applied() != total {
		t.Fatalf("applied %d entries, replica at %d, want %d", len(applied), r.Applied(), total)
	}
}

// TestReplicaRefetchesAGap: a consumer that skips entries makes the
// replica read the log again from the first entry it lacks.
func TestReplicaRefetchesAGap(t *testing.T) {
	r := testReplica(16)
	now := t0()
	_, acts := r.Deliver(1, order(1, 1), 5, now)
	run := only[ApplyRun](t, acts)
	r.Stored(okOutcomes(run.Orders), nil, now)
	r.Deliver(2, order(2, 1), 4, now)
	taken, acts := r.Deliver(5, order(5, 1), 1, now)
	if !taken {
		t.Fatal("refused an entry beyond a gap instead of reading again")
	}
	rc := only[RestartConsumer](t, acts)
	if rc.From != 2 || r.Next() != 2 {
		t.Fatalf("restart from %d, next %d: want 2 (applied 1)", rc.From, r.Next())
	}
}

// TestReplicaRetriesAFailedApplyAndSaysItIsStalled: a storage failure
// keeps the same entries, reports why in Stalled (the heartbeat carries
// it to status), and retries them after a pause, never skipping.
func TestReplicaRetriesAFailedApplyAndSaysItIsStalled(t *testing.T) {
	r := testReplica(16)
	now := t0()
	_, acts := r.Deliver(1, order(1, 1), 0, now)
	run := only[ApplyRun](t, acts)
	acts = r.Stored(nil, errors.New("store: cassandra unavailable: timeout"), now)
	if !strings.Contains(r.Stalled(), "cannot apply seq 1") {
		t.Fatalf("stalled %q", r.Stalled())
	}
	if len(r.Tick(now)) != 0 {
		t.Fatal("retried at once, without a pause")
	}
	now = now.Add(time.Second)
	retry := only[ApplyRun](t, r.Tick(now))
	if retry.Steps[0].Seq != run.Steps[0].Seq {
		t.Fatalf("retried seq %d, want %d", retry.Steps[0].Seq, run.Steps[0].Seq)
	}
	ack := only[SendAck](t, r.Stored(okOutcomes(retry.Orders), nil, now))
	if ack.Ack.Applied != 1 || r.Stalled() != "" {
		t.Fatalf("ack %+v stalled %q", ack.Ack, r.Stalled())
	}
}

// TestReplicaBehindWithNothingDeliveredReadsAgain: the replica knows the
// log reaches seq 50 but nothing arrives; after StallAfter it says it is
// stalled, and why, and restarts its consumer.
func TestReplicaBehindWithNothingDeliveredReadsAgain(t *testing.T) {
	r := testReplica(16)
	now := t0()
	r.LogBounds(1, 50, now)
	if len(r.Tick(now.Add(time.Second))) != 0 {
		t.Fatal("restarted before StallAfter")
	}
	acts := r.Tick(now.Add(6 * time.Second))
	rc := only[RestartConsumer](t, acts)
	if rc.From != 1 || !strings.Contains(r.Stalled(), "applied 0, log at 50") {
		t.Fatalf("restart %+v, stalled %q", rc, r.Stalled())
	}
	// Caught up, it is quiet; idle an hour and then behind, its stall
	// clock starts when it learns it is behind, not at its last apply.
	r2 := testReplica(16)
	r2.LogBounds(1, 0, now)
	if len(r2.Tick(now.Add(time.Hour))) != 0 || r2.Stalled() != "" {
		t.Fatal("an idle replica that is caught up reported a stall")
	}
	r2.LogBounds(1, 1, now.Add(time.Hour))
	if len(r2.Tick(now.Add(time.Hour+time.Second))) != 0 || r2.Stalled() != "" {
		t.Fatalf("a replica behind for a second reported a stall: %q", r2.Stalled())
	}
}

func TestReplicaSaysWhenTheLogNoLongerHoldsWhatItNeeds(t *testing.T) {
	r := testReplica(16)
	b := only[Behind](t, r.LogBounds(1000, 2000, t0()))
	if b.First != 1000 || !strings.Contains(r.Stalled(), "the log starts at seq 1000 but this replica needs seq 1") {
		t.Fatalf("behind %+v, stalled %q", b, r.Stalled())
	}
}

// TestReplicaAcksMarkersAndSkips: entries with nothing to store go to the
// store as an empty run and are ACKed with the skips' outcomes.
func TestReplicaAcksMarkersAndSkips(t *testing.T) {
	r := testReplica(16)
	now := t0()
	_, acts := r.Deliver(1, messages.MustEncode(&messages.Order{Epoch: 3, Seq: 1, Kind: messages.OrderEpoch}), 1, now)
	run := only[ApplyRun](t, acts)
	if len(run.Orders) != 0 {
		t.Fatalf("a marker has orders to store: %+v", run.Orders)
	}
	r.Deliver(2, []byte("garbage"), 0, now)
	acts = r.Stored(nil, nil, now)
	ack := only[SendAck](t, acts)
	if ack.Ack.Applied != 1 || ack.Ack.Epoch != 3 {
		t.Fatalf("ack %+v", ack.Ack)
	}
	run = only[ApplyRun](t, acts)
	ack = only[SendAck](t, r.Stored(nil, nil, now))
	if ack.Ack.Applied != 2 || len(ack.Ack.Outcomes) != 1 || ack.Ack.Outcomes[0].Code != messages.CodeInternal || r.Stats().Skipped != 1 {
		t.Fatalf("ack %+v stats %+v", ack.Ack, r.Stats())
	}
}

func TestForwardRetryPolicy(t *testing.T) {
	now := t0()
	p := NewForwardRetry(now, 2*time.Second)
	if d, ok := p.Attempt(now); !ok || d != ForwardAttempt {
		t.Fatalf("first attempt %s %v", d, ok)
	}
	if d := p.Failed(false); d != 0 {
		t.Fatalf("after a timed-out attempt, wait %s, want 0", d)
	}
	var waits []time.Duration
	for range 5 {
		waits = append(waits, p.Failed(true))
	}
	want := []time.Duration{20, 40, 80, 160, 200}
	for i := range want {
		if waits[i] != want[i]*time.Millisecond {
			t.Fatalf("no-responder pauses %v", waits)
		}
	}
	if d, ok := p.Attempt(now.Add(1800 * time.Millisecond)); !ok || d != 200*time.Millisecond {
		t.Fatalf("last attempt %s %v: bounded by the deadline", d, ok)
	}
	if _, ok := p.Attempt(now.Add(2 * time.Second)); ok {
		t.Fatal("an attempt at the deadline")
	}
}

// TestReplicaSnapshotsExactlyAtItsRequest: the run stops at the snapshot
// request naming this replica, nothing more is applied until the snapshot
// is done, and the members it carries are those applied before it.
func TestReplicaSnapshotsExactlyAtItsRequest(t *testing.T) {
	r := testReplica(16)
	now := t0()
	entries := [][]byte{
		order(1, 1),
		messages.MustEncode(&messages.Order{Epoch: 1, Seq: 2, Kind: messages.OrderMember, Timestamp: 5, Leader: "s0",
			Member: &messages.MemberChange{Op: messages.MemberAdd, ID: "s2", Gen: "g2"}}),
		messages.MustEncode(&messages.Order{Epoch: 1, Seq: 3, Kind: messages.OrderSnapshot, Timestamp: 6, Leader: "s0", SnapshotBy: "s1"}),
		order(4, 1),
	}
	var acts []ReplicaAction
	for i, e := range entries {
		_, a := r.Deliver(uint64(i+1), e, uint64(len(entries)-i-1), now)
		acts = append(acts, a...)
	}
	run := only[ApplyRun](t, acts)
	if len(run.Steps) != 1 {
		t.Fatalf("first run %d steps", len(run.Steps))
	}
	run = only[ApplyRun](t, r.Stored(okOutcomes(run.Orders), nil, now))
	if last := run.Steps[len(run.Steps)-1]; last.Seq != 3 || last.Kind != StepSnapshot || len(run.Orders) != 1 || run.Orders[0].Kind != messages.OrderMember {
		t.Fatalf("second run %+v: want it to end at the snapshot request, storing the member change", run.Steps)
	}
	acts = r.Stored(okOutcomes(run.Orders), nil, now)
	snap := only[TakeSnapshot](t, acts)
	if snap.Seq != 3 || snap.Timestamp != 6 || len(snap.Members) != 1 || snap.Members[0].ID != "s2" {
		t.Fatalf("take %+v", snap)
	}
	for _, a := range acts {
		if _, ok := a.(ApplyRun); ok {
			t.Fatal("applied past the snapshot before it was taken")
		}
	}
	if len(r.Tick(now.Add(time.Minute))) != 0 || r.Applied() != 3 {
		t.Fatal("moved while snapshotting")
	}
	run = only[ApplyRun](t, r.SnapshotDone(3, nil, now))
	if run.Steps[0].Seq != 4 {
		t.Fatalf("resumed at %d", run.Steps[0].Seq)
	}
}

func TestReplicaStopsAtItsOwnRemoval(t *testing.T) {
	cfg := DefaultReplicaConfig("s1")
	cfg.Gen = "g1"
	r := NewReplica(cfg, 0, 0, t0())
	rm := func(seq uint64, gen string) []byte {
		return messages.MustEncode(&messages.Order{Epoch: 1, Seq: seq, Kind: messages.OrderMember, Timestamp: int64(seq), Leader: "s0",
			Member: &messages.MemberChange{Op: messages.MemberRemove, ID: "s1", Gen: gen}})
	}
	_, acts := r.Deliver(1, rm(1, "g0"), 1, t0()) // an earlier life of this id
	run := only[ApplyRun](t, acts)
	acts = r.Stored(okOutcomes(run.Orders), nil, t0())
	for _, a := range acts {
		if _, ok := a.(Removed); ok {
			t.Fatal("stopped at the removal of another generation")
		}
	}
	_, acts = r.Deliver(2, rm(2, "g1"), 0, t0())
	run = only[ApplyRun](t, acts)
	got := only[Removed](t, r.Stored(okOutcomes(run.Orders), nil, t0()))
	if got.Seq != 2 || !strings.Contains(got.Reason, "drop its keyspace") {
		t.Fatalf("removed %+v", got)
	}
}

// An apply call the store never answers (its deadline ignored) shows as
// stalled once it is StallAfter past the deadline, and not before; its
// late answer clears that.
func TestReplicaReportsAnApplyThatNeverReturns(t *testing.T) {
	cfg := DefaultReplicaConfig("s1")
	cfg.ApplyDeadline = 10 * time.Second
	r := NewReplica(cfg, 0, 0, t0())
	now := t0()
	_, acts := r.Deliver(1, order(1, 1), 0, now)
	run := only[ApplyRun](t, acts)
	for now.Sub(t0()) <= cfg.ApplyDeadline+cfg.StallAfter {
		r.Tick(now)
		if s := r.Stalled(); s != "" {
			t.Fatalf("stalled after %s, within the deadline and StallAfter: %s", now.Sub(t0()), s)
		}
		now = now.Add(replicaTick)
	}
	only[ReplicaNotice](t, r.Tick(now))
	if s := r.Stalled(); !strings.Contains(s, "has not answered the apply of seq 1-1, sent at 2023-11-14T22:13:20Z with a deadline of 10s") {
		t.Fatalf("stalled = %q, want it to name the apply that is out", s)
	}
	if acts := r.Tick(now.Add(time.Minute)); len(acts) != 0 {
		t.Fatalf("said it again: %#v", acts)
	}
	only[SendAck](t, r.Stored(okOutcomes(run.Orders), nil, now))
	if s := r.Stalled(); s != "" {
		t.Fatalf("still stalled after the answer: %s", s)
	}

	// A failed apply, then a retry that never returns: the reason moves
	// from the failure to the call that is out.
	_, acts = r.Deliver(2, order(2, 1), 0, now)
	only[ApplyRun](t, acts)
	r.Stored(nil, errors.New("timeout"), now)
	if s := r.Stalled(); !strings.Contains(s, "cannot apply seq 2") {
		t.Fatalf("stalled = %q after a failed apply", s)
	}
	var retry []ReplicaAction
	for len(retry) == 0 {
		now = now.Add(replicaTick)
		for _, a := range r.Tick(now) {
			if _, ok := a.(ApplyRun); ok {
				retry = append(retry, a)
			}
		}
	}
	sent := now
	for now.Sub(sent) <= cfg.ApplyDeadline+cfg.StallAfter {
		now = now.Add(replicaTick)
		r.Tick(now)
	}
	if s := r.Stalled(); !strings.Contains(s, "has not answered the apply of seq 2-2") {
		t.Fatalf("stalled = %q, want the retry that is out", s)
	}
}
