package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

func fwd(id string) messages.Forward {
	return messages.Forward{RequestID: id, Reply: "_INBOX." + id, Stmt: "INSERT INTO t (k) VALUES (1)", Origin: "w1"}
}

func ids(hs []Handover) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Forward.RequestID)
	}
	return out
}

func mustWatch(t *testing.T, h *Handovers, f messages.Forward, acc messages.Accepted, now time.Time) {
	t.Helper()
	if again, wait := h.Accepted(f, acc, now); again || wait != 0 {
		t.Fatalf("Accepted(%s) = %v, %v; want watched", f.RequestID, again, wait)
	}
}

func TestHandoversHandOverWhatANewEpochLeftUnanswered(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHandovers(10*time.Second, 100)
	mustWatch(t, h, fwd("a"), messages.Accepted{Epoch: 3, Seq: 10, RequestID: "a", Answered: 9}, t0)
	mustWatch(t, h, fwd("b"), messages.Accepted{Epoch: 3, Seq: 11, RequestID: "b", Answered: 9}, t0)
	mustWatch(t, h, fwd("c"), messages.Accepted{Epoch: 3, Seq: 12, RequestID: "c", Answered: 10}, t0)
	if h.Len() != 2 {
		t.Fatalf("watched %d, want 2: seq 10 was reported answered", h.Len())
	}
	if got := h.Superseded(3, t0); got != nil {
		t.Fatalf("Superseded by the same epoch = %v, want nothing", ids(got))
	}
	// Epoch 5's leader accepted d before this worker applied its marker.
	mustWatch(t, h, fwd("d"), messages.Accepted{Epoch: 5, Seq: 14, RequestID: "d", Answered: 13}, t0)
	got := h.Superseded(5, t0)
	if fmt.Sprint(ids(got)) != "[b c]" {
		t.Fatalf("Superseded(5) = %v, want [b c]", ids(got))
	}
	if h.Len() != 1 {
		t.Fatalf("watched %d after the epoch change, want 1 (d)", h.Len())
	}
	// A late Accepted of the deposed leader: hand over again at once.
	if again, _ := h.Accepted(fwd("e"), messages.Accepted{Epoch: 3, Seq: 13, RequestID: "e"}, t0); !again {
		t.Fatal("an Accepted of a superseded epoch was watched, want handed over again at once")
	}
	if h.Superseded(4, t0) != nil || h.Superseded(5, t0) != nil {
		t.Fatal("an old or repeated epoch handed writes over again")
	}
}

func TestHandoversAnsweredOnlyWithinItsEpoch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHandovers(10*time.Second, 100)
	mustWatch(t, h, fwd("a"), messages.Accepted{Epoch: 3, Seq: 10, RequestID: "a"}, t0)
	// A new leader starts with its answered prefix at the log's end: that
	// says nothing of what epoch 3 answered.
	h.Report(messages.Accepted{Epoch: 4, Seq: 12, Answered: 11}, t0)
	if got := h.Superseded(4, t0); fmt.Sprint(ids(got)) != "[a]" {
		t.Fatalf("Superseded(4) = %v, want [a]", ids(got))
	}
	// Accepted without ordering (seq 0) is answered already.
	if again, wait := h.Accepted(fwd("z"), messages.Accepted{Epoch: 4, RequestID: "z"}, t0); again || wait != 0 || h.Len() != 0 {
		t.Fatalf("seq 0: again %v wait %v watched %d, want nothing watched", again, wait, h.Len())
	}
}

func TestHandoversForgetAfterKeep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHandovers(time.Second, 100)
	mustWatch(t, h, fwd("a"), messages.Accepted{Epoch: 3, Seq: 10}, t0)
	mustWatch(t, h, fwd("b"), messages.Accepted{Epoch: 3, Seq: 11}, t0.Add(600*time.Millisecond))
	if got := h.Superseded(4, t0.Add(1200*time.Millisecond)); fmt.Sprint(ids(got)) != "[b]" {
		t.Fatalf("Superseded after a's keep = %v, want [b]", ids(got))
	}
}

// The bound, exceeded by far: a full list makes the forwarder wait until
// the oldest write leaves, and an answer report makes room at once.
func TestHandoversBoundPushesBack(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const max = 8
	h := NewHandovers(10*time.Second, max)
	for i := range max {
		mustWatch(t, h, fwd(fmt.Sprint(i)), messages.Accepted{Epoch: 2, Seq: uint64(10 + i)}, t0.Add(time.Duration(i)*time.Millisecond))
	}
	now := t0.Add(time.Second)
	for i := range 100 * max {
		acc := messages.Accepted{Epoch: 2, Seq: uint64(100 + i)}
		again, wait := h.Accepted(fwd(fmt.Sprint("x", i)), acc, now)
		if again || wait != 9*time.Second {
			t.Fatalf("write %d beyond the bound: again %v wait %v, want a wait of 9s (the oldest's keep)", i, again, wait)
		}
		if h.Len() != max {
			t.Fatalf("watched %d, want the bound %d", h.Len(), max)
		}
	}
	// Once the oldest expires, one more fits.
	mustWatch(t, h, fwd("late"), messages.Accepted{Epoch: 2, Seq: 200}, t0.Add(10*time.Second))
	// A report that seqs up to 13 are answered frees 11, 12 and 13.
	h.Report(messages.Accepted{Epoch: 2, Answered: 13}, t0.Add(10*time.Second))
	if h.Len() != max-3 {
		t.Fatalf("watched %d after the answer report, want %d", h.Len(), max-3)
	}
	if got := h.Superseded(3, t0.Add(10*time.Second)); fmt.Sprint(ids(got)) != "[4 5 6 7 late]" {
		t.Fatalf("Superseded = %v, want the unanswered [4 5 6 7 late]", ids(got))
	}
}
