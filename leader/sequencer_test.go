package leader

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

var t0 = time.Unix(1_700_000_000, 0)

var timing = Timing{HeartbeatTimeout: time.Second, AckTimeout: 3 * time.Second}

type harness struct {
	t    *testing.T
	s    *Sequencer
	now  time.Time
	done map[string]messages.Outcome // the lookup's record
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: t0, done: map[string]messages.Outcome{}}
	lookup := func(id string) (messages.Outcome, bool) { o, ok := h.done[id]; return o, ok }
	h.s = NewSequencer("s0", timing, lookup, bytes.NewReader(make([]byte, 1<<16)), t0)
	return h
}

// ready makes s0 the leader of epoch 7 after log seq 10 with live workers
// s0, s1, s2, all at seq 10.
func (h *harness) ready() {
	for _, w := range []string{"s0", "s1", "s2"} {
		h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 10}, h.now)
	}
	acts := h.s.Lead(7, 10, t0.UnixMicro(), h.now)
	ap := one[Append](h.t, acts)
	if ap.Order.Seq != 11 || ap.Order.Kind != messages.OrderEpoch || ap.Order.Epoch != 7 {
		h.t.Fatalf("marker: %+v", ap.Order)
	}
	h.s.Appended(h.s.Epoch(), 11, nil, h.now)
	for _, w := range []string{"s0", "s1", "s2"} {
		h.s.Ack(messages.Ack{Worker: w, Applied: 11}, h.now)
	}
	if h.s.IsReady() {
		h.t.Fatal("ready before listening to heartbeats for HeartbeatTimeout")
	}
	h.now = t0.Add(timing.HeartbeatTimeout)
	acts = nil
	for _, w := range []string{"s0", "s1", "s2"} {
		acts = append(acts, h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 11}, h.now)...)
	}
	one[Ready](h.t, append(acts, h.s.Tick(h.now)...))
}

func (h *harness) forward(id, reply string) []Action {
	return h.s.Forward(messages.Forward{RequestID: id, Reply: reply, Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s1"}, "acc-"+id, h.now)
}

func (h *harness) ack(w string, seq uint64, outcomes ...messages.Outcome) []Action {
	return h.s.Ack(messages.Ack{Worker: w, Applied: seq, Outcomes: outcomes}, h.now)
}

func all[T Action](acts []Action) []T {
	var out []T
	for _, a := range acts {
		if x, ok := a.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func one[T Action](t *testing.T, acts []Action) T {
	t.Helper()
	xs := all[T](acts)
	if len(xs) != 1 {
		t.Fatalf("want one %T in %#v", *new(T), acts)
	}
	return xs[0]
}

func none[T Action](t *testing.T, acts []Action) {
	t.Helper()
	if xs := all[T](acts); len(xs) != 0 {
		t.Fatalf("want no %T, got %#v", *new(T), xs)
	}
}

func TestCommitWaitsForEveryLiveReplica(t *testing.T) {
	h := newHarness(t)
	h.ready()
	ap := one[Append](t, h.forward("r1", "inbox1"))
	if ap.Order.Seq != 12 || ap.Order.Epoch != 7 || len(ap.Order.Writes) != 1 || ap.Order.Writes[0].RequestID != "r1" || ap.Order.Timestamp <= t0.UnixMicro() {
		t.Fatalf("order: %+v", ap.Order)
	}
	acc := one[Accept](t, h.s.Appended(h.s.Epoch(), 12, nil, h.now))
	if acc.To != "acc-r1" || acc.Accepted.Seq != 12 {
		t.Fatalf("accept: %+v", acc)
	}
	none[Respond](t, h.ack("s0", 12, messages.Outcome{Seq: 12}))
	none[Respond](t, h.ack("s1", 12, messages.Outcome{Seq: 12}))
	r := one[Respond](t, h.ack("s2", 12, messages.Outcome{Seq: 12}))
	if r.To != "inbox1" || r.Reply.Status != messages.StatusSuccess || r.Reply.Seq != 12 || r.Reply.Server != "s1" {
		t.Fatalf("reply: %+v", r)
	}
	// A duplicate ACK changes nothing.
	none[Respond](t, h.ack("s2", 12, messages.Outcome{Seq: 12}))
}

func TestAcksOutOfOrderAndCumulative(t *testing.T) {
	h := newHarness(t)
	h.ready()
	for _, id := range []string{"a", "b", "c"} {
		h.forward(id, "in-"+id)
	}
	for seq := uint64(12); seq <= 14; seq++ {
		h.s.Appended(h.s.Epoch(), seq, nil, h.now)
	}
	h.ack("s0", 14, messages.Outcome{Seq: 12}, messages.Outcome{Seq: 13}, messages.Outcome{Seq: 14})
	// s1 reports 14 before 13: an ACK covers everything up to its seq.
	h.ack("s1", 14)
	none[Respond](t, h.ack("s1", 13))
	got := all[Respond](h.ack("s2", 14))
	if len(got) != 3 {
		t.Fatalf("want 3 replies, got %+v", got)
	}
}

func TestRetriedRequestIsOrderedOnce(t *testing.T) {
	h := newHarness(t)
	h.ready()
	one[Append](t, h.forward("r1", "inbox1"))
	// Retry before the append completes: no second append.
	acts := h.forward("r1", "inbox2")
	none[Append](t, acts)
	none[Accept](t, acts)
	accepts := all[Accept](h.s.Appended(h.s.Epoch(), 12, nil, h.now))
	if len(accepts) != 2 {
		t.Fatalf("both forwarders accepted: %+v", accepts)
	}
	// Retry after the append: accepted at once, still no append.
	acts = h.forward("r1", "inbox3")
	none[Append](t, acts)
	one[Accept](t, acts)
	for _, w := range []string{"s0", "s1", "s2"} {
		acts = h.ack(w, 12, messages.Outcome{Seq: 12})
	}
	if rs := all[Respond](acts); len(rs) != 3 {
		t.Fatalf("every retry answered: %+v", rs)
	}
}

func TestRetryOfAppliedRequestGetsOriginalOutcome(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.done["old"] = messages.Outcome{Seq: 9, Code: messages.CodeCQL, Error: "unconfigured table t"}
	acts := h.forward("old", "inbox")
	none[Append](t, acts)
	r := one[Respond](t, acts)
	if r.Reply.Status != messages.StatusError || r.Reply.Error != "unconfigured table t" || r.Reply.Seq != 9 {
		t.Fatalf("reply: %+v", r.Reply)
	}
}

func TestRetryOfAppliedRequestWaitsForLaggingReplica(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.done["x"] = messages.Outcome{Seq: 15}
	h.ack("s0", 15)
	h.ack("s1", 15)
	none[Respond](t, h.forward("x", "inbox"))
	one[Respond](t, h.ack("s2", 15))
}

func TestSilentWorkerLeavesAndRejoins(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.forward("r1", "inbox1")
	h.s.Appended(h.s.Epoch(), 12, nil, h.now)
	h.ack("s0", 12, messages.Outcome{Seq: 12})
	h.ack("s1", 12, messages.Outcome{Seq: 12})
	// s2 is silent: s0 and s1 keep heartbeating.
	h.now = h.now.Add(timing.HeartbeatTimeout / 2)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 12}, h.now)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s1", Applied: 12}, h.now)
	none[Respond](t, h.s.Tick(h.now))
	h.now = h.now.Add(timing.HeartbeatTimeout/2 + time.Millisecond)
	acts := h.s.Tick(h.now)
	if r := one[Respond](t, acts); r.Reply.Seq != 12 {
		t.Fatalf("reply: %+v", r)
	}
	if n := one[Notice](t, acts); !strings.Contains(n.Msg, "s2 is out") {
		t.Fatalf("notice: %+v", n)
	}
	// s2 comes back behind: it stays out until it has caught up.
	h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Applied: 11}, h.now)
	h.forward("r2", "inbox2")
	h.s.Appended(h.s.Epoch(), 13, nil, h.now)
	h.ack("s0", 13, messages.Outcome{Seq: 13})
	one[Respond](t, h.ack("s1", 13, messages.Outcome{Seq: 13}))
	// Caught up with everything committed: live again, and waited for.
	one[Notice](t, h.ack("s2", 13))
	h.forward("r3", "inbox3")
	h.s.Appended(h.s.Epoch(), 14, nil, h.now)
	h.ack("s0", 14, messages.Outcome{Seq: 14})
	none[Respond](t, h.ack("s1", 14, messages.Outcome{Seq: 14}))
	one[Respond](t, h.ack("s2", 14, messages.Outcome{Seq: 14}))
}

func TestStuckWorkerLeavesAfterAckTimeout(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.forward("r1", "inbox1")
	h.s.Appended(h.s.Epoch(), 12, nil, h.now)
	h.ack("s0", 12, messages.Outcome{Seq: 12})
	h.ack("s1", 12, messages.Outcome{Seq: 12})
	// s2 heartbeats but cannot apply.
	for i := 0; i < 4; i++ {
		h.now = h.now.Add(timing.AckTimeout / 4)
		for _, w := range []string{"s0", "s1"} {
			h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 12}, h.now)
		}
		h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Applied: 11, Stalled: "cassandra down"}, h.now)
		none[Respond](t, h.s.Tick(h.now))
	}
	h.now = h.now.Add(time.Millisecond)
	one[Respond](t, h.s.Tick(h.now))
}

func TestConsistencyOne(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.s.Forward(messages.Forward{RequestID: "r1", Reply: "in", Stmt: "DELETE FROM t WHERE k = 1", Origin: "s2", Consistency: messages.ConsistencyOne}, "", h.now)
	h.s.Appended(h.s.Epoch(), 12, nil, h.now)
	one[Respond](t, h.ack("s0", 12, messages.Outcome{Seq: 12}))
}

func TestFailedAppendStepsDown(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.forward("r1", "inbox1")
	sd := one[StepDown](t, h.s.Appended(h.s.Epoch(), 12, errors.New("wrong last sequence: 12"), h.now))
	if !strings.Contains(sd.Reason, "wrong last sequence") || h.s.Leading() {
		t.Fatalf("step down: %+v", sd)
	}
	// A deposed leader sequences nothing.
	if acts := h.forward("r2", "inbox2"); len(acts) != 0 {
		t.Fatalf("deposed leader acted: %+v", acts)
	}
}

func TestForwardsQueuedUntilReady(t *testing.T) {
	h := newHarness(t)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 10}, h.now)
	h.s.Lead(3, 10, 0, h.now)
	none[Append](t, h.forward("early", "inbox"))
	h.s.Appended(h.s.Epoch(), 11, nil, h.now)
	h.ack("s0", 11)
	h.now = h.now.Add(timing.HeartbeatTimeout)
	acts := h.s.Tick(h.now)
	one[Ready](t, acts)
	if ap := one[Append](t, acts); ap.Order.Writes[0].RequestID != "early" || ap.Order.Seq != 12 {
		t.Fatalf("queued forward: %+v", ap.Order)
	}
}

func TestTimestampsNeverGoBackwards(t *testing.T) {
	h := newHarness(t)
	future := t0.Add(time.Hour).UnixMicro() // the previous leader's clock ran ahead
	h.s.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 10}, h.now)
	marker := one[Append](t, h.s.Lead(2, 10, future, h.now))
	if marker.Order.Timestamp <= future {
		t.Fatalf("marker timestamp %d not after %d", marker.Order.Timestamp, future)
	}
	h.s.Appended(h.s.Epoch(), 11, nil, h.now)
	h.ack("s0", 11)
	h.now = h.now.Add(timing.HeartbeatTimeout)
	h.s.Tick(h.now)
	prev := marker.Order.Timestamp
	for _, id := range []string{"a", "b", "c"} {
		ap := one[Append](t, h.forward(id, ""))
		if ap.Order.Timestamp <= prev {
			t.Fatalf("timestamp %d after %d", ap.Order.Timestamp, prev)
		}
		prev = ap.Order.Timestamp
		h.s.Appended(h.s.Epoch(), ap.Order.Seq, nil, h.now)
	}
}

func TestDivergentOutcomeIsReportedAndLeaderReplicaWins(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.forward("r1", "inbox")
	h.s.Appended(h.s.Epoch(), 12, nil, h.now)
	h.ack("s1", 12, messages.Outcome{Seq: 12, Code: messages.CodeCQL, Error: "boom"})
	n := one[Notice](t, h.ack("s0", 12, messages.Outcome{Seq: 12}))
	if !n.Warn || h.s.Stats().Divergences != 1 {
		t.Fatalf("divergence not reported: %+v", n)
	}
	r := one[Respond](t, h.ack("s2", 12, messages.Outcome{Seq: 12}))
	if r.Reply.Status != messages.StatusSuccess {
		t.Fatalf("reply: %+v", r.Reply)
	}
}

func TestNondeterministicFunctionsAreRewritten(t *testing.T) {
	h := newHarness(t)
	h.ready()
	ap := one[Append](t, h.s.Forward(messages.Forward{RequestID: "r", Stmt: "INSERT INTO t (k, id, at) VALUES (1, uuid(), currentTimestamp())", Origin: "s1"}, "", h.now))
	if stmt := ap.Order.Writes[0].Stmt; strings.Contains(stmt, "uuid()") || strings.Contains(stmt, "currentTimestamp()") {
		t.Fatalf("not rewritten: %s", stmt)
	}
}

// What the admission check learned decides the rewrite: a statement it
// found plain is ordered as sent; any other, also one queued while the
// leader starts, is rewritten.
func TestAdmittedStatementsRewrittenUnlessPlain(t *testing.T) {
	const call = "INSERT INTO t (k, at) VALUES (1, currentTimestamp())"
	for _, tc := range []struct {
		stmt  string
		plain bool
		want  string
	}{
		{call, false, "INSERT INTO t (k, at) VALUES (1, (timestamp)1700000001000)"},
		{"UPDATE t SET a = 1 WHERE k = 1", true, "UPDATE t SET a = 1 WHERE k = 1"},
		{"UPDATE t SET a = 1 WHERE k = 1", false, "UPDATE t SET a = 1 WHERE k = 1"},
	} {
		for _, queued := range []bool{false, true} {
			h := newHarness(t)
			f := messages.Forward{RequestID: "r", Stmt: tc.stmt, Origin: "s1"}
			var acts []Action
			if queued { // before the leader is ready
				for _, w := range []string{"s0", "s1", "s2"} {
					h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 10}, h.now)
				}
				h.s.Lead(7, 10, t0.UnixMicro(), h.now)
				none[Append](t, h.s.ForwardAdmitted(f, Admission{Plain: tc.plain}, "", h.now))
				h.s.Appended(7, 11, nil, h.now)
				h.now = t0.Add(timing.HeartbeatTimeout)
				for _, w := range []string{"s0", "s1", "s2"} {
					acts = append(acts, h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 11}, h.now)...)
				}
			} else {
				h.ready()
				acts = h.s.ForwardAdmitted(f, Admission{Plain: tc.plain}, "", h.now)
			}
			ap := one[Append](t, acts)
			if got := ap.Order.Writes[0].Stmt; got != tc.want {
				t.Errorf("%q plain %v queued %v: ordered %q, want %q", tc.stmt, tc.plain, queued, got, tc.want)
			}
		}
	}
}

func TestGroupCommit(t *testing.T) {
	h := newHarness(t)
	h.ready()
	// Two appends in flight: later writes wait and go into one ORDER.
	one[Append](t, h.forward("a", "in-a"))
	one[Append](t, h.forward("b", "in-b"))
	for _, id := range []string{"c", "d", "e"} {
		none[Append](t, h.forward(id, "in-"+id))
	}
	ap := one[Append](t, h.s.Appended(h.s.Epoch(), 12, nil, h.now))
	o := ap.Order
	if o.Seq != 14 || len(o.Writes) != 3 || o.Writes[0].RequestID != "c" || o.Writes[2].RequestID != "e" {
		t.Fatalf("group ORDER: %+v", o)
	}
	h.s.Appended(h.s.Epoch(), 13, nil, h.now)
	h.s.Appended(h.s.Epoch(), 14, nil, h.now)
	outcomes := []messages.Outcome{{Seq: 12}, {Seq: 13}, {Seq: 14, Index: 0}, {Seq: 14, Index: 1, Code: messages.CodeCQL, Error: "bad"}, {Seq: 14, Index: 2}}
	var replies []Respond
	for _, w := range []string{"s0", "s1", "s2"} {
		replies = append(replies, all[Respond](h.ack(w, 14, outcomes...))...)
	}
	if len(replies) != 5 {
		t.Fatalf("replies: %+v", replies)
	}
	for _, r := range replies {
		if r.To == "in-d" && (r.Reply.Status != messages.StatusError || r.Reply.Seq != 14 || r.Reply.Index != 1) {
			t.Fatalf("reply to d: %+v", r.Reply)
		}
		if r.To == "in-e" && (r.Reply.Status != messages.StatusSuccess || r.Reply.Index != 2) {
			t.Fatalf("reply to e: %+v", r.Reply)
		}
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t)
	h.ready()
	st := h.s.Status(h.now)
	if st.Leader != "s0" || st.Epoch != 7 || st.LastSeq != 11 || len(st.Workers) != 3 || !st.Workers[2].Live {
		t.Fatalf("status: %+v", st)
	}
}

func BenchmarkSequencerCommit(b *testing.B) {
	h := newHarness(&testing.T{})
	h.ready()
	b.ReportAllocs()
	seq := uint64(12)
	for b.Loop() {
		h.s.Forward(messages.Forward{RequestID: "r", Reply: "in", Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s1"}, "", h.now)
		h.s.Appended(h.s.Epoch(), seq, nil, h.now)
		for _, w := range []string{"s0", "s1", "s2"} {
			h.s.Ack(messages.Ack{Worker: w, Applied: seq, Outcomes: []messages.Outcome{{Seq: seq}}}, h.now)
		}
		seq++
	}
}

// Found by the simulation: every ACK carrying an outcome was lost, but the
// leader's own replica has it on record.
func TestCommitsWhenOutcomeAcksAreLost(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.forward("r1", "inbox")
	h.s.Appended(7, 12, nil, h.now)
	h.done["r1"] = messages.Outcome{Seq: 12}
	for _, w := range []string{"s0", "s1"} {
		h.s.Heartbeat(messages.Heartbeat{Worker: w, Applied: 12}, h.now)
	}
	r := one[Respond](t, h.s.Heartbeat(messages.Heartbeat{Worker: "s2", Applied: 12}, h.now))
	if r.Reply.Seq != 12 || r.Reply.Status != messages.StatusSuccess {
		t.Fatalf("reply: %+v", r.Reply)
	}
}

// Found by the simulation: the replica being past the marker's seq does not
// mean the marker is in the log (another leader's entry may sit there), and
// an append result of an earlier term says nothing about this term.
func TestNotReadyUntilOwnMarkerIsAppended(t *testing.T) {
	h := newHarness(t)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 15}, h.now) // already past seq 11
	h.s.Lead(7, 10, 0, h.now)
	h.now = h.now.Add(timing.HeartbeatTimeout)
	none[Ready](t, h.s.Tick(h.now))
	none[Ready](t, h.s.Appended(6, 11, nil, h.now)) // an earlier term's result
	if sd := h.s.Appended(6, 11, errors.New("wrong last sequence"), h.now); len(sd) != 0 {
		t.Fatalf("an earlier term's failure deposed this term: %+v", sd)
	}
	one[StepDown](t, h.s.Appended(7, 11, errors.New("wrong last sequence"), h.now))
}

// A leader whose marker replicas skip as stale (a later epoch appended
// before it) steps down instead of taking writes that would all be skipped.
func TestStaleMarkerStepsDown(t *testing.T) {
	h := newHarness(t)
	h.s.Heartbeat(messages.Heartbeat{Worker: "s0", Applied: 10}, h.now)
	h.s.Lead(4, 10, 0, h.now)
	h.s.Appended(4, 11, nil, h.now)
	one[StepDown](t, h.ack("s0", 11, messages.Outcome{Seq: 11, Code: messages.CodeStale}))
	if h.s.Leading() {
		t.Fatal("still leading")
	}
}

// BenchmarkSequencerGroup is the sequencer's work per write under load:
// 64 FORWARDs grouped into one ORDER, appended and acknowledged by three
// replicas. Reported per write.
func BenchmarkSequencerGroup(b *testing.B) { benchmarkGroup(b, Admission{}) }

// BenchmarkSequencerGroupAdmitted is BenchmarkSequencerGroup with the
// FORWARDs as the Node hands them over: admitted, plain.
func BenchmarkSequencerGroupAdmitted(b *testing.B) { benchmarkGroup(b, Admission{Plain: true}) }

func benchmarkGroup(b *testing.B, adm Admission) {
	const writes = 64
	h := newHarness(&testing.T{})
	h.ready()
	stmts := make([]string, writes)
	ids := make([]string, writes)
	for i := range stmts {
		stmts[i] = "UPDATE bench_list SET events = events + [" + strconv.Itoa(1000+i) + "] WHERE id = " + strconv.Itoa(i)
	}
	b.ReportAllocs()
	seq := uint64(12)
	n := 0
	for b.Loop() {
		// Two appends in flight hold the next writes back into one group.
		h.s.ForwardAdmitted(messages.Forward{RequestID: "a" + strconv.Itoa(n), Reply: "in", Stmt: stmts[0], Origin: "s1"}, adm, "", h.now)
		h.s.ForwardAdmitted(messages.Forward{RequestID: "b" + strconv.Itoa(n), Reply: "in", Stmt: stmts[1], Origin: "s1"}, adm, "", h.now)
		for i := range ids {
			ids[i] = "w" + strconv.Itoa(n) + "." + strconv.Itoa(i)
			h.s.ForwardAdmitted(messages.Forward{RequestID: ids[i], Reply: "in", Stmt: stmts[i], Origin: "s1"}, adm, "acc", h.now)
		}
		outs := make([]messages.Outcome, writes)
		for i := range outs {
			outs[i] = messages.Outcome{Seq: seq + 2, Index: uint32(i)}
		}
		for k := uint64(0); k < 3; k++ {
			h.s.Appended(h.s.Epoch(), seq+k, nil, h.now)
		}
		for _, w := range []string{"s0", "s1", "s2"} {
			h.s.Ack(messages.Ack{Worker: w, Applied: seq + 2, Outcomes: append([]messages.Outcome{{Seq: seq}, {Seq: seq + 1}}, outs...)}, h.now)
		}
		if h.s.Committed() != seq+2 {
			b.Fatalf("committed %d, want %d", h.s.Committed(), seq+2)
		}
		seq += 3
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(writes+2)), "ns/write")
}

// A retry answered from the exactly-once record is counted (the Node's
// metrics read the count instead of looking the id up a second time).
func TestReplayedCountsRetriesOfAppliedWrites(t *testing.T) {
	h := newHarness(t)
	h.ready()
	h.done["r1"] = messages.Outcome{Seq: 9}
	h.forward("r1", "inbox")
	h.forward("r2", "inbox")
	h.forward("r2", "inbox") // in flight: not from the record
	if got := h.s.Stats().Replayed; got != 1 {
		t.Fatalf("Replayed = %d, want 1", got)
	}
}

// Accepted.Answered is the prefix of seqs this leader has answered: the
// forwarding worker stops watching those writes (worker.Handovers), so it
// must never cover a write whose client is still waiting.
func TestAcceptedReportsTheAnsweredPrefix(t *testing.T) {
	h := newHarness(t)
	h.ready()
	one[Append](t, h.forward("a", "in-a"))
	one[Append](t, h.forward("b", "in-b"))
	accs := all[Accept](append(h.s.Appended(h.s.Epoch(), 12, nil, h.now), h.s.Appended(h.s.Epoch(), 13, nil, h.now)...))
	for _, a := range accs {
		if a.Accepted.Answered >= a.Accepted.Seq {
			t.Fatalf("Accepted of seq %d reports answered %d: its client waits", a.Accepted.Seq, a.Accepted.Answered)
		}
	}
	for _, w := range []string{"s0", "s1", "s2"} {
		h.ack(w, 12, messages.Outcome{Seq: 12})
	}
	one[Append](t, h.forward("c", "in-c"))
	acc := one[Accept](t, h.s.Appended(h.s.Epoch(), 14, nil, h.now))
	if acc.Accepted.Answered != 12 {
		t.Fatalf("answered %d after seq 12 was answered and 13 was not, want 12", acc.Accepted.Answered)
	}
	// A retry of a write applied in an earlier epoch (seq 9) waits for
	// its answer to be sent: its Accepted reports nothing at or above 9
	// answered, though the commit index is past it.
	h.done["old"] = messages.Outcome{Seq: 9}
	acc = one[Accept](t, h.forward("old", "in-old"))
	if acc.Accepted.Seq != 9 || acc.Accepted.Answered >= 9 {
		t.Fatalf("retry answered from the record: %+v, want seq 9 and answered below 9", acc.Accepted)
	}
}
