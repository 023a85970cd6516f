package worker

import (
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

func order(seq, epoch uint64) []byte {
	return messages.MustEncode(&messages.Order{Epoch: epoch, Seq: seq, Writes: []messages.Write{{RequestID: "r", Stmt: "UPDATE t SET a = 1 WHERE k = 1"}}})
}

// drain applies everything ready and returns the sequences, in order.
func drain(a *Applier) []Step {
	var out []Step
	for st, ok := a.Next(); ok; st, ok = a.Next() {
		out = append(out, st)
		a.Done(st)
	}
	return out
}

func TestApplierHoldsBackUntilGapFilled(t *testing.T) {
	a := NewApplier(0, 0, 0)
	a.Offer(3, order(3, 1))
	a.Offer(2, order(2, 1))
	if got := drain(a); len(got) != 0 {
		t.Fatalf("applied past a gap: %+v", got)
	}
	a.Offer(1, order(1, 1))
	got := drain(a)
	if len(got) != 3 || got[0].Seq != 1 || got[1].Seq != 2 || got[2].Seq != 3 {
		t.Fatalf("order: %+v", got)
	}
	if a.Applied() != 3 {
		t.Fatalf("applied %d", a.Applied())
	}
}

func TestApplierDropsDuplicates(t *testing.T) {
	a := NewApplier(5, 1, 0)
	if a.Offer(5, order(5, 1)) != Duplicate || a.Offer(4, order(4, 1)) != Duplicate {
		t.Fatal("accepted an applied entry")
	}
	a.Offer(7, order(7, 1))
	if a.Offer(7, order(7, 1)) != Duplicate {
		t.Fatal("accepted a held entry twice")
	}
	a.Offer(6, order(6, 1))
	if got := drain(a); len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	if a.Duplicates() != 3 {
		t.Fatalf("duplicates %d", a.Duplicates())
	}
}

func TestApplierRetriesTheSameStep(t *testing.T) {
	a := NewApplier(0, 0, 0)
	a.Offer(1, order(1, 1))
	st1, _ := a.Next()
	st2, _ := a.Next() // the apply failed: the same ORDER again, never the next
	if st1.Seq != 1 || st2.Seq != 1 {
		t.Fatalf("%d %d", st1.Seq, st2.Seq)
	}
}

func TestApplierSkipsGarbageAndStaleEntriesAlike(t *testing.T) {
	a := NewApplier(0, 0, 0)
	a.Offer(1, messages.MustEncode(&messages.Order{Epoch: 5, Seq: 1, Kind: messages.OrderEpoch}))
	a.Offer(2, []byte("not an order"))
	a.Offer(3, order(3, 4)) // a deposed leader's write
	a.Offer(4, order(9, 5)) // claims another position
	a.Offer(5, order(5, 5))
	got := drain(a)
	want := []StepKind{StepMarker, StepSkip, StepSkip, StepSkip, StepApply}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, st := range got {
		if st.Kind != want[i] {
			t.Errorf("seq %d: kind %d, want %d (%s)", st.Seq, st.Kind, want[i], st.Outcome.Error)
		}
	}
	if got[2].Outcome.Code != messages.CodeStale {
		t.Errorf("stale entry code %s", got[2].Outcome.Code)
	}
	if a.Epoch() != 5 {
		t.Errorf("epoch %d", a.Epoch())
	}
}

// TestApplierLosesNothingBeyondItsBound offers a log 25 times the bound
// at once, in order, as a consumer far ahead of the apply delivers it: what
// does not fit is refused (Full) and kept by the caller, never dropped;
// every entry is applied once, in order.
func TestApplierLosesNothingBeyondItsBound(t *testing.T) {
	const bound, total = 64, 64 * 25
	a := NewApplier(0, 0, bound)
	var next uint64 = 1 // the caller's pending entry: offered until taken
	var applied []uint64
	fulls := 0
	for next <= total || a.Held() > 0 {
		for next <= total { // the consumer delivers all it can
			r := a.Offer(next, order(next, 1))
			if r == Full {
				fulls++
				break
			}
			if r != Taken {
				t.Fatalf("seq %d: %s", next, r)
			}
			if a.Held() > bound {
				t.Fatalf("holds %d entries, over its bound of %d", a.Held(), bound)
			}
			next++
		}
		for _, st := range a.Run(7) { // one apply call, then the consumer again
			applied = append(applied, st.Seq)
			a.Done(st)
		}
	}
	if fulls == 0 {
		t.Fatal("the bound was never reached: the test says nothing")
	}
	if len(applied) != total {
		t.Fatalf("applied %d entries of %d", len(applied), total)
	}
	for i, seq := range applied {
		if seq != uint64(i+1) {
			t.Fatalf("position %d applied seq %d", i, seq)
		}
	}
}

// TestApplierTakesTheEntryThatFillsTheGap: full of entries behind a gap,
// the Applier still takes the one entry that lets it apply them.
func TestApplierTakesTheEntryThatFillsTheGap(t *testing.T) {
	a := NewApplier(0, 0, 4)
	for seq := uint64(2); seq <= 5; seq++ {
		a.Offer(seq, order(seq, 1))
	}
	if r := a.Offer(6, order(6, 1)); r != Full {
		t.Fatalf("a fifth entry behind the gap: %s, want full", r)
	}
	if r := a.Offer(1, order(1, 1)); r != Taken {
		t.Fatalf("the entry filling the gap: %s, want taken", r)
	}
	if got := drain(a); len(got) != 5 {
		t.Fatalf("applied %d entries, want 5", len(got))
	}
}

func messagesOutcome(seq uint64) messages.Outcome { return messages.Outcome{Seq: seq} }

func t0() time.Time { return time.Unix(1_700_000_000, 0) }

func TestApplierRunTakesConsecutiveEntries(t *testing.T) {
	a := NewApplier(0, 0, 0)
	a.Offer(1, messages.MustEncode(&messages.Order{Epoch: 2, Seq: 1, Kind: messages.OrderEpoch}))
	a.Offer(2, order(2, 2))
	a.Offer(3, order(3, 1)) // stale: epoch 1 after the marker of epoch 2
	a.Offer(4, order(4, 2))
	a.Offer(6, order(6, 2)) // behind a gap
	run := a.Run(100)
	if len(run) != 4 || run[0].Kind != StepMarker || run[1].Kind != StepApply || run[2].Kind != StepSkip || run[3].Kind != StepApply {
		t.Fatalf("run: %+v", run)
	}
	if got := a.Run(1); len(got) != 2 || got[1].Kind != StepApply {
		t.Fatalf("a run of at most 1 write still takes the marker before it: %+v", got)
	}
	for _, st := range run {
		a.Done(st)
	}
	if a.Applied() != 4 || a.Epoch() != 2 || len(a.Run(100)) != 0 {
		t.Fatalf("applied %d epoch %d", a.Applied(), a.Epoch())
	}
}

func BenchmarkApplierOfferRun(b *testing.B) {
	data := make([][]byte, 1<<14)
	for i := range data {
		data[i] = order(uint64(i+1), 1)
	}
	b.ReportAllocs()
	a := NewApplier(0, 0, 0)
	seq := uint64(0)
	for b.Loop() {
		if seq += 2; seq > uint64(len(data)) { // start over on a fresh log
			a, seq = NewApplier(0, 0, 0), 2
		}
		// Entries arrive two at a time, out of order; runs are drained.
		a.Offer(seq, data[seq-1])
		a.Offer(seq-1, data[seq-2])
		for _, st := range a.Run(512) {
			a.Done(st)
		}
	}
}
