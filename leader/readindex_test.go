package leader

import (
	"errors"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// ready takes a core to a ready term of epoch 9 whose marker is seq 41,
// with the lease just renewed at h.now (it holds until h.now+ttl).
func (h *coreHarness) ready() {
	h.t.Helper()
	h.win(9, 40)
	h.c.Appended(9, 41, nil, h.now)
	h.c.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 41}, h.now)
	h.now = h.now.Add(coreTiming.HeartbeatTimeout)
	for i := 0; i < 4 && !h.c.Sequencer().IsReady(); i++ {
		acts := h.c.Tick(h.now)
		if op, ok := firstOf[LeaseOp](acts); ok && op.Op == OpRenew {
			h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 10}, h.now)
		}
	}
	if !h.c.Sequencer().IsReady() {
		h.t.Fatal("not ready")
	}
	// A fresh renewal: the lease surely holds until h.now+ttl.
	h.now = h.now.Add(ttl / 4)
	if op, ok := firstOf[LeaseOp](h.c.Tick(h.now)); !ok || op.Op != OpRenew {
		h.t.Fatal("no renewal due")
	}
	h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 11}, h.now)
}

func readReplies(acts []Action) map[string]messages.ReadIndexReply {
	out := map[string]messages.ReadIndexReply{}
	for _, a := range all[SendReadIndex](acts) {
		out[a.To] = a.Reply
	}
	return out
}

// Under a safely held lease the read index is the last seq handed to the
// log, one still being appended included: a replica may apply it before
// the leader hears its append succeeded, and a read there may show it, so
// every later read must wait for it too.
func TestReadIndexUnderTheLease(t *testing.T) {
	h := newCore(t)
	h.ready()
	acts := h.c.ReadIndex("r1", h.now)
	none[Append](t, acts)
	if r := readReplies(acts)["r1"]; r.Code != messages.CodeOK || r.Seq != 41 || r.Epoch != 9 {
		t.Fatalf("read index %+v, want seq 41 in epoch 9", r)
	}
	ap := one[Append](t, h.c.Forward(messages.Forward{RequestID: "w", Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s1", Reply: "c"}, "acc", h.now))
	if r := readReplies(h.c.ReadIndex("r2", h.now))["r2"]; r.Seq != ap.Order.Seq {
		t.Fatalf("read index %d while seq %d is being appended, want %d: a replica may show it already", r.Seq, ap.Order.Seq, ap.Order.Seq)
	}
	h.c.Appended(9, ap.Order.Seq, nil, h.now)
	if r := readReplies(h.c.ReadIndex("r3", h.now))["r3"]; r.Seq != ap.Order.Seq {
		t.Fatalf("read index %d after seq %d was appended", r.Seq, ap.Order.Seq)
	}
	if st := h.c.ReadStats(); st.ByLease != 3 || st.ByLog != 0 {
		t.Fatalf("stats %+v, want 3 by lease", st)
	}
}

// Within the margin of its lease's end a leader confirms through the log:
// it appends its marker again, and the seq of that barrier is the index.
func TestReadIndexThroughTheLogNearTheLeaseEnd(t *testing.T) {
	h := newCore(t)
	h.ready()
	h.now = h.now.Add(ttl - h.c.readLeaseMargin()/2) // still held, not safely
	acts := h.c.ReadIndex("r1", h.now)
	if len(readReplies(acts)) != 0 {
		t.Fatalf("answered from a lease about to end: %+v", acts)
	}
	b := one[Append](t, acts).Order
	if b.Kind != messages.OrderEpoch || b.Epoch != 9 || b.Seq != 42 || b.Leader != "s0" {
		t.Fatalf("barrier %+v, want the epoch 9 marker again at seq 42", b)
	}
	// A read arriving meanwhile waits for the next barrier: the one in
	// flight may have been sent before it arrived.
	acts = h.c.ReadIndex("r2", h.now)
	none[Append](t, acts)
	if len(readReplies(acts)) != 0 {
		t.Fatal("a read that arrived after the barrier was sent was answered by it")
	}
	acts = h.c.Appended(9, 42, nil, h.now)
	if r := readReplies(acts)["r1"]; r.Code != messages.CodeOK || r.Seq != 42 {
		t.Fatalf("r1 got %+v, want seq 42", r)
	}
	b2 := one[Append](t, acts).Order
	if b2.Seq != 43 || b2.Kind != messages.OrderEpoch {
		t.Fatalf("second barrier %+v", b2)
	}
	if r := readReplies(h.c.Appended(9, 43, nil, h.now))["r2"]; r.Seq != 43 {
		t.Fatalf("r2 got %+v, want seq 43", r)
	}
	if st := h.c.ReadStats(); st.ByLog != 2 {
		t.Fatalf("stats %+v, want 2 through the log", st)
	}
}

// A barrier whose append fails (another leader appended) answers its
// reads UNAVAILABLE, never an index.
func TestReadIndexFailsWhenTheBarrierFails(t *testing.T) {
	h := newCore(t)
	h.ready()
	h.now = h.now.Add(ttl - h.c.readLeaseMargin()/2)
	b := one[Append](t, h.c.ReadIndex("r1", h.now)).Order
	acts := h.c.Appended(9, b.Seq, errors.New("wrong last sequence: 43"), h.now)
	one[StepDown](t, acts)
	if r, ok := readReplies(acts)["r1"]; !ok || r.Code != messages.CodeUnavailable {
		t.Fatalf("r1 got %+v (answered %v), want UNAVAILABLE", r, ok)
	}
}

// Past its lease a leader answers no read: it steps down instead.
func TestReadIndexPastTheLease(t *testing.T) {
	h := newCore(t)
	h.ready()
	h.now = h.now.Add(ttl + time.Millisecond) // paused past the lease
	acts := h.c.ReadIndex("r1", h.now)
	none[Append](t, acts)
	one[StepDown](t, acts)
	if r := readReplies(acts)["r1"]; r.Code != messages.CodeUnavailable {
		t.Fatalf("r1 got %+v, want UNAVAILABLE", r)
	}
}

// A follower refuses; a leader not yet ready holds the request until its
// term starts.
func TestReadIndexBeforeTheTermStarts(t *testing.T) {
	h := newCore(t)
	if r := readReplies(h.c.ReadIndex("r0", h.now))["r0"]; r.Code != messages.CodeUnavailable {
		t.Fatalf("a follower answered %+v", r)
	}
	h.win(9, 40)
	if acts := h.c.ReadIndex("r1", h.now); len(readReplies(acts)) != 0 {
		t.Fatal("answered before the marker is in the log")
	}
	h.c.Appended(9, 41, nil, h.now)
	h.c.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 41}, h.now)
	h.now = h.now.Add(coreTiming.HeartbeatTimeout)
	got := map[string]messages.ReadIndexReply{}
	for i := 0; i < 4 && len(got) == 0; i++ {
		acts := h.c.Tick(h.now)
		if op, ok := firstOf[LeaseOp](acts); ok && op.Op == OpRenew {
			acts = append(acts, h.c.LeaseDone(LeaseResult{Op: OpRenew, Rev: 10}, h.now)...)
		}
		for to, r := range readReplies(acts) {
			got[to] = r
		}
	}
	// The lease was won at t0 and HeartbeatTimeout has passed: within the
	// margin or not, the answer must cover the marker.
	if r := got["r1"]; r.Code != messages.CodeOK || r.Seq < 41 {
		t.Fatalf("r1 got %+v, want at least seq 41", got)
	}
}
