package leader

import (
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// memberHarness is a ready leader s0 (epoch 7, marker at seq 11) whose
// replica has applied members s0 and s1; s2 is heard from but no member.
func memberHarness(t *testing.T, p Policy) *harness {
	h := newHarness(t)
	p.Roster = func() []messages.Member {
		return []messages.Member{{ID: "s0", Gen: "g0", Seq: 3}, {ID: "s1", Gen: "g1", Seq: 4}}
	}
	h.s.SetPolicy(p)
	h.s.SetLog(1, 0)
	for _, w := range []string{"s0", "s1", "s2"} {
		h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 10, Gen: "g" + w[1:], Durable: 10}, h.now)
	}
	ap := one[Append](t, h.s.Lead(7, 10, t0.UnixMicro(), h.now))
	h.s.Appended(7, ap.Order.Seq, nil, h.now)
	h.now = t0.Add(timing.HeartbeatTimeout)
	var acts []Action
	for _, w := range []string{"s0", "s1", "s2"} {
		acts = append(acts, h.hb(w, 11)...)
	}
	one[Ready](t, acts)
	// s2's keyspace is no member yet: the leader adds it, once.
	add := one[Append](t, acts)
	if add.Order.Kind != messages.OrderMember || add.Order.Member.ID != "s2" || add.Order.Member.Gen != "g2" || add.Order.Member.Op != messages.MemberAdd {
		t.Fatalf("want an add of s2/g2, got %+v", add.Order)
	}
	none[Append](t, h.hb("s2", 11))
	h.s.Appended(7, add.Order.Seq, nil, h.now)
	for _, w := range []string{"s0", "s1", "s2"} {
		h.hb(w, add.Order.Seq)
	}
	return h
}

func (h *harness) hb(w string, applied uint64) []Action {
	return h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: applied, Gen: "g" + w[1:], Durable: applied}, h.now)
}

func TestLeaderAddsAKeyspaceOfANewGeneration(t *testing.T) {
	h := memberHarness(t, Policy{})
	// s1's keyspace was rebuilt: a new generation under the same id.
	acts := h.s.Heartbeat(messages.Heartbeat{Worker: "s1", Applied: 0, Gen: "g1b"}, h.now)
	add := one[Append](t, acts)
	if add.Order.Member.ID != "s1" || add.Order.Member.Gen != "g1b" {
		t.Fatalf("want an add of s1/g1b, got %+v", add.Order.Member)
	}
}

func TestRemoveRefusesWhatItCannotDo(t *testing.T) {
	h := memberHarness(t, Policy{})
	for _, tc := range []struct{ id, want string }{
		{"nosuch", `unknown member "nosuch"; members: s0, s1, s2`},
	} {
		r := one[Respond](t, h.s.Remove(tc.id, "inbox", h.now))
		if r.Reply.Status != messages.StatusError || !strings.Contains(r.Reply.Error, tc.want) {
			t.Fatalf("remove %s: %+v, want an error with %q", tc.id, r.Reply, tc.want)
		}
	}
	// With s1 and s2 silent, s0 is the last live member.
	h.now = h.now.Add(5 * time.Second)
	h.hb("s0", 12)
	h.s.Tick(h.now)
	r := one[Respond](t, h.s.Remove("s0", "inbox", h.now))
	if !strings.Contains(r.Reply.Error, "last live member") {
		t.Fatalf("removing the last live member: %+v", r.Reply)
	}
}

func TestRemovedMemberIsRefusedAndNoLongerAwaited(t *testing.T) {
	h := memberHarness(t, Policy{})
	acts := h.s.Remove("s2", "admin-inbox", h.now)
	rm := one[Append](t, acts)
	if rm.Order.Member.Op != messages.MemberRemove || rm.Order.Member.Gen != "g2" {
		t.Fatalf("removal %+v", rm.Order.Member)
	}
	h.s.Appended(7, rm.Order.Seq, nil, h.now)
	h.hb("s0", rm.Order.Seq)
	// Committed without s2, which is removed; the admin hears of it.
	r := one[Respond](t, h.hb("s1", rm.Order.Seq))
	if r.To != "admin-inbox" || r.Reply.Status != messages.StatusSuccess || r.Reply.Seq != rm.Order.Seq {
		t.Fatalf("admin reply %+v", r)
	}
	before := h.s.Stats().Ignored
	h.hb("s2", rm.Order.Seq)
	h.s.Ack(messages.Ack{Worker: "s2", Applied: rm.Order.Seq, Gen: "g2"}, h.now)
	if got := h.s.Stats().Ignored - before; got != 2 {
		t.Fatalf("ignored %d messages of the removed generation, want 2", got)
	}
	st := h.s.Status(h.now)
	for _, w := range st.Workers {
		if w.ID == "s2" && w.State != messages.StateRemoved {
			t.Fatalf("s2 is %q, want removed", w.State)
		}
	}
	// A new keyspace under the same id is a new member.
	add := one[Append](t, h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Gen: "g2b"}, h.now))
	if add.Order.Member.Op != messages.MemberAdd || add.Order.Member.Gen != "g2b" {
		t.Fatalf("rejoin %+v", add.Order.Member)
	}
}

func TestSnapshotsOnScheduleFromTheFollowerFurthestAhead(t *testing.T) {
	h := memberHarness(t, Policy{SnapshotEvery: 5, Retain: 2, SnapshotTimeout: time.Minute})
	seq := h.s.lastSeq
	h.hb("s1", seq+3) // furthest ahead of the followers (but the leader)
	h.s.committed = seq + 5
	acts := h.s.Tick(h.now)
	ap := one[Append](t, acts)
	if ap.Order.Kind != messages.OrderSnapshot || ap.Order.SnapshotBy != "s1" {
		t.Fatalf("want a snapshot request to s1, got %+v", ap.Order)
	}
	none[Append](t, h.s.Tick(h.now)) // one at a time
	// An admin asking meanwhile waits for the same one.
	none[Respond](t, h.s.Snapshot("admin", h.now))
	acts = h.s.Heartbeat(messages.Heartbeat{Worker: "s1", Applied: ap.Order.Seq, Gen: "g1", Durable: ap.Order.Seq - 1, Snapshot: ap.Order.Seq}, h.now)
	r := one[Respond](t, acts)
	if r.To != "admin" || r.Reply.Seq != ap.Order.Seq || r.Reply.Server != "s1" {
		t.Fatalf("admin reply %+v", r)
	}
	if st := h.s.Status(h.now); st.SnapshotSeq != ap.Order.Seq {
		t.Fatalf("status snapshot seq %d, want %d", st.SnapshotSeq, ap.Order.Seq)
	}
}

func TestSnapshotRequestIsGivenUpAfterItsTimeout(t *testing.T) {
	h := memberHarness(t, Policy{SnapshotTimeout: time.Second})
	ap := one[Append](t, h.s.Snapshot("admin", h.now))
	h.s.Appended(7, ap.Order.Seq, nil, h.now)
	h.now = h.now.Add(2 * time.Second)
	for _, w := range []string{"s0", "s1", "s2"} { // all live: the taker just never reports
		h.hb(w, ap.Order.Seq)
	}
	r := one[Respond](t, h.s.Tick(h.now))
	if r.Reply.Status != messages.StatusError || !strings.Contains(r.Reply.Error, "did not report the snapshot") {
		t.Fatalf("reply %+v", r.Reply)
	}
	if one[Append](t, h.s.Snapshot("admin2", h.now)).Order.Kind != messages.OrderSnapshot {
		t.Fatal("no new request after giving one up")
	}
}

// TestTrimKeepsWhatMembersNeed: the log is trimmed to Retain entries behind
// the newest snapshot, never past what a member's keyspace has recorded,
// and a member that is down holds the log until it is removed.
func TestTrimKeepsWhatMembersNeed(t *testing.T) {
	h := memberHarness(t, Policy{Retain: 3})
	h.s.SetLog(1, 40)
	h.s.lastSeq = 60
	for _, w := range []string{"s0", "s1"} {
		h.hb(w, 50)
	}
	h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Applied: 50, Gen: "g2", Durable: 20}, h.now)
	trim := one[Trim](t, h.s.Tick(h.now))
	if trim.KeepFrom != 21 {
		t.Fatalf("keep from %d, want 21 (s2 recorded 20)", trim.KeepFrom)
	}
	h.s.Trimmed(21, nil)
	h.now = h.now.Add(time.Second)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Applied: 50, Gen: "g2", Durable: 50}, h.now)
	trim = one[Trim](t, h.s.Tick(h.now))
	if trim.KeepFrom != 38 {
		t.Fatalf("keep from %d, want 38 (snapshot 40, retain 3)", trim.KeepFrom)
	}
	h.s.Trimmed(38, nil)
	if st := h.s.Status(h.now); st.FirstSeq != 38 {
		t.Fatalf("first seq %d", st.FirstSeq)
	}
	// A member never heard from by this leader holds the log.
	h2 := memberHarness(t, Policy{Retain: 3})
	h2.s.roster["s9"] = messages.Member{ID: "s9", Gen: "g9"}
	h2.s.SetLog(1, 40)
	none[Trim](t, h2.s.Tick(h2.now))
}

// TestSnapshotIsAskedAgainWhenItsTakerGoesOut: the worker asked for a
// snapshot goes down; another one is asked at once, not after the timeout.
func TestSnapshotIsAskedAgainWhenItsTakerGoesOut(t *testing.T) {
	h := memberHarness(t, Policy{SnapshotTimeout: time.Hour})
	h.hb("s1", h.s.lastSeq)
	ap := one[Append](t, h.s.Snapshot("admin", h.now))
	if ap.Order.SnapshotBy != "s1" && ap.Order.SnapshotBy != "s2" {
		t.Fatalf("asked %s", ap.Order.SnapshotBy)
	}
	taker := ap.Order.SnapshotBy
	h.s.Appended(7, ap.Order.Seq, nil, h.now)
	h.now = h.now.Add(2 * timing.HeartbeatTimeout)
	for _, w := range []string{"s0", "s1", "s2"} {
		if w != taker {
			h.hb(w, ap.Order.Seq)
		}
	}
	again := one[Append](t, h.s.Tick(h.now))
	if again.Order.Kind != messages.OrderSnapshot || again.Order.SnapshotBy == taker {
		t.Fatalf("after %s went out: %+v", taker, again.Order)
	}
	r := one[Respond](t, h.s.Heartbeat(messages.Heartbeat{Worker: again.Order.SnapshotBy, Applied: again.Order.Seq, Gen: "g" + again.Order.SnapshotBy[1:], Snapshot: again.Order.Seq}, h.now))
	if r.To != "admin" || r.Reply.Seq != again.Order.Seq {
		t.Fatalf("the admin's wait was not carried over: %+v", r)
	}
}

func TestAdminHearsWhenTheLeaderStepsDown(t *testing.T) {
	h := memberHarness(t, Policy{SnapshotTimeout: time.Hour})
	one[Append](t, h.s.Snapshot("admin", h.now))
	acts := h.s.StepDown("lease lost")
	r := one[Respond](t, acts)
	if r.To != "admin" || r.Reply.Status != messages.StatusError || !strings.Contains(r.Reply.Error, "stepped down") {
		t.Fatalf("reply %+v", r)
	}
}

// TestCommitsDoNotWaitForTheSnapshotter: the follower asked for a snapshot
// applies nothing while it reads its keyspace; writes commit without it
// meanwhile, and it rejoins the ACK set once it has reported and caught up.
func TestCommitsDoNotWaitForTheSnapshotter(t *testing.T) {
	h := memberHarness(t, Policy{SnapshotTimeout: time.Hour})
	snap := one[Append](t, h.s.Snapshot("", h.now))
	taker := snap.Order.SnapshotBy
	if taker == "s0" {
		t.Fatal("the leader asked itself with followers live")
	}
	h.s.Appended(7, snap.Order.Seq, nil, h.now)
	ap := one[Append](t, h.forward("w1", "client"))
	h.s.Appended(7, ap.Order.Seq, nil, h.now)
	var replies []Respond
	for _, w := range []string{"s0", "s1", "s2"} {
		applied := ap.Order.Seq
		if w == taker {
			applied = snap.Order.Seq // paused at its snapshot
		}
		replies = append(replies, all[Respond](h.s.Ack(messages.Ack{Worker: w, Applied: applied, Gen: "g" + w[1:],
			Outcomes: []messages.Outcome{{Seq: ap.Order.Seq}}}, h.now))...)
	}
	if len(replies) != 1 || replies[0].Reply.Status != messages.StatusSuccess {
		t.Fatalf("replies %+v: want the write committed without %s", replies, taker)
	}
	// Reported and caught up, it is live again.
	h.s.Heartbeat(messages.Heartbeat{Worker: taker, Applied: ap.Order.Seq, Gen: "g" + taker[1:], Snapshot: snap.Order.Seq}, h.now)
	h.s.Heartbeat(messages.Heartbeat{Worker: taker, Applied: ap.Order.Seq, Gen: "g" + taker[1:], Snapshot: snap.Order.Seq}, h.now)
	for _, w := range h.s.Status(h.now).Workers {
		if w.ID == taker && !w.Live {
			t.Fatalf("%s not live again after its snapshot: %+v", taker, w)
		}
	}
}
