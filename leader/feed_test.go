package leader

import (
	"testing"
	"time"
)

// TestTrimKeepsWhatTheFeedHasNotPublished: the log is kept from the first
// entry the change feed still needs, and not trimmed at all while the
// feed does not know where it stands.
func TestTrimKeepsWhatTheFeedHasNotPublished(t *testing.T) {
	var needs uint64
	h := memberHarness(t, Policy{Retain: 3, FeedNeeds: func() uint64 { return needs }})
	h.s.SetLog(1, 40)
	h.s.lastSeq = 60
	for _, w := range []string{"s0", "s1", "s2"} {
		h.hb(w, 50)
	}
	none[Trim](t, h.s.Tick(h.now))
	needs = 25
	h.now = h.now.Add(time.Second)
	if trim := one[Trim](t, h.s.Tick(h.now)); trim.KeepFrom != 25 {
		t.Fatalf("keep from %d, want 25 (the feed needs it)", trim.KeepFrom)
	}
	h.s.Trimmed(25, nil)
	needs = 45
	h.now = h.now.Add(time.Second)
	if trim := one[Trim](t, h.s.Tick(h.now)); trim.KeepFrom != 38 {
		t.Fatalf("keep from %d, want 38 (snapshot 40, retain 3)", trim.KeepFrom)
	}
}

// TestCommittedIsReportedOnlyWhileReady: the feed's hook hears 0 from a
// follower and a leader not yet ready, whatever the log holds.
func TestCommittedIsReportedOnlyWhileReady(t *testing.T) {
	h := memberHarness(t, Policy{})
	if c := h.s.Committed(); c == 0 || c != h.s.committed {
		t.Fatalf("ready leader reports committed %d (internal %d)", c, h.s.committed)
	}
	h.s.StepDown("test")
	if c := h.s.Committed(); c != 0 {
		t.Fatalf("a follower reports committed %d", c)
	}
	h.s.Lead(9, 20, t0.UnixMicro(), h.now)
	if c := h.s.Committed(); c != 0 {
		t.Fatalf("a leader not ready reports committed %d", c)
	}
}
