package bench

import (
	"math"
	"reflect"
	"testing"
)

// A follower stopped at seq 100 (400 writes applied) comes back: at its
// first reading, 0.5 s after its restart, it has applied 50 writes and the
// leader is at seq 400 (1,600 writes applied, 1,000 committed by this
// leader): 1,150 behind. 2 s later it has applied seq 400 and 1,200 more writes while the leader committed 400: 600 against
// 200 writes/s, ratio 3. It is counted live again at 3 s.
func TestCatchUpOf(t *testing.T) {
	stopped := CatchUpPoint{T: 0, Applied: 400, AppliedSeq: 100, Committed: 300, LeaderApplied: 400, LeaderSeq: 100, Live: 3}
	after := []CatchUpPoint{
		{T: 0.5, Applied: 50, AppliedSeq: 110, Committed: 1000, LeaderApplied: 1600, LeaderSeq: 400, Live: 2},
		{T: 1.5, Applied: 750, AppliedSeq: 300, Committed: 1200, LeaderApplied: 1800, LeaderSeq: 450, Live: 2},
		{T: 2.5, Applied: 1250, AppliedSeq: 400, Committed: 1400, LeaderApplied: 2000, LeaderSeq: 500, Live: 2},
		{T: 3, Applied: 1550, AppliedSeq: 500, Committed: 1500, LeaderApplied: 2100, LeaderSeq: 510, Live: 3},
	}
	c := CatchUpOf(stopped, after, 3)
	want := CatchUp{Startup: 0.5, BacklogEntries: 290, BacklogWrites: 1150, CaughtUp: true, Time: 2, Applied: 1200,
		ApplyRate: 600, CommitRate: 200, Ratio: 3, Rejoin: 3}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}

	// Not caught up by the last reading: the rate so far, not caught up.
	c = CatchUpOf(stopped, after[:2], 3)
	if c.CaughtUp || c.Rejoin != 0 || c.Time != 1 || c.ApplyRate != 700 || c.CommitRate != 200 || math.Abs(c.Ratio-3.5) > 1e-9 {
		t.Fatalf("partial %+v", c)
	}
	// Nothing committed meanwhile: no ratio rather than an infinite one.
	flat := []CatchUpPoint{after[0], after[1]}
	flat[1].Committed = flat[0].Committed
	if c := CatchUpOf(stopped, flat, 3); c.Ratio != 0 || c.ApplyRate != 700 {
		t.Fatalf("nothing committed %+v", c)
	}
	// No reading at all, or one only: nothing measured.
	if c := CatchUpOf(stopped, nil, 3); c.CaughtUp || c.ApplyRate != 0 {
		t.Fatalf("no readings %+v", c)
	}
	if c := CatchUpOf(stopped, after[:1], 3); c.CaughtUp || c.Time != 0 || c.Ratio != 0 {
		t.Fatalf("one reading %+v", c)
	}
}
