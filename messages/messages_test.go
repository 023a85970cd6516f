package messages

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRoundTrip(t *testing.T) {
	in := &Order{Epoch: 3, Seq: 42, Timestamp: 1700000000000000, Leader: "server0", Writes: []Write{{RequestID: "r1", Stmt: "INSERT INTO t (a) VALUES (1)", Origin: "server1"}, {RequestID: "r2", Stmt: "DELETE FROM t WHERE a = 1", Origin: "server2"}}}
	var out Order
	if err := Decode(MustEncode(in), &out); err != nil {
		t.Fatal(err)
	}
	if out.Seq != 42 || out.Epoch != 3 || len(out.Writes) != 2 || out.Writes[1] != in.Writes[1] || out.Timestamp != in.Timestamp || out.Leader != "server0" || out.WriteTimestamp(1) != in.Timestamp+1 {
		t.Fatalf("round trip changed the order: %+v", out)
	}
	ack := &Ack{Worker: "server2", Epoch: 3, Applied: 42, Outcomes: []Outcome{{Seq: 42, Code: CodeCQL, Error: "unconfigured table t"}}}
	var ack2 Ack
	if err := Decode(MustEncode(ack), &ack2); err != nil {
		t.Fatal(err)
	}
	if len(ack2.Outcomes) != 1 || ack2.Outcomes[0].Error != "unconfigured table t" || ack2.Outcomes[0].Code != CodeCQL {
		t.Fatalf("ack outcomes lost: %+v", ack2)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"text", []byte("UPDATE grade SET x=1"), ErrWrongType},
		{"wrong type", MustEncode(&Heartbeat{Worker: "w"}), ErrWrongType},
		{"truncated", MustEncode(&Order{Epoch: 1, Seq: 1, Writes: []Write{{RequestID: "r", Stmt: "x"}}})[:5], ErrMalformed},
		{"zero seq", MustEncode(&Order{Epoch: 1, Writes: []Write{{RequestID: "r", Stmt: "x"}}}), ErrInvalid},
		{"write order without writes", MustEncode(&Order{Epoch: 1, Seq: 1}), ErrInvalid},
		{"write without stmt", MustEncode(&Order{Epoch: 1, Seq: 1, Writes: []Write{{RequestID: "r"}}}), ErrInvalid},
		{"tag then junk", append([]byte{byte(tagOrder)}, 0xff, 0x00, 0x13), ErrMalformed},
	}
	for _, c := range cases {
		var o Order
		if err := Decode(c.data, &o); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAckValidation(t *testing.T) {
	bad := &Ack{Worker: "w", Applied: 3, Outcomes: []Outcome{{Seq: 4}}}
	var a Ack
	if err := Decode(MustEncode(bad), &a); !errors.Is(err, ErrInvalid) {
		t.Fatalf("outcome beyond applied accepted: %v", err)
	}
}

func TestSubjects(t *testing.T) {
	s := NewSubjects("prod.db")
	if s.Request() != "prod.db.request" || s.RequestTo("server1") != "prod.db.request.server1" || s.Order() != "prod.db.order" {
		t.Fatalf("subjects: %s %s %s", s.Request(), s.RequestTo("server1"), s.Order())
	}
	if s.StreamName() != "CHORUS_prod_db" || s.LeaseBucket() != "CHORUS_prod_db_LEASE" {
		t.Fatalf("names: %s %s", s.StreamName(), s.LeaseBucket())
	}
	for _, bad := range []string{"", "a.b", "a b", "*", ">"} {
		if ValidToken(bad) {
			t.Errorf("ValidToken(%q) = true", bad)
		}
	}
	if !ValidPrefix("prod.db") || ValidPrefix("prod..db") || ValidPrefix("db.>") {
		t.Error("ValidPrefix")
	}
}

func TestReplyJSON(t *testing.T) {
	got := string(WriteSuccess(42, "server1", "").Encode())
	if got != `{"status":"SUCCESS","seq":42,"server":"server1"}` {
		t.Fatalf("write reply: %s", got)
	}
	got = string(ReadSuccess([]string{"id", "events"}, []byte(`[{"id":7,"events":[1,2]}]`), "server2").Encode())
	if got != `{"status":"SUCCESS","columns":["id","events"],"rows":[{"id":7,"events":[1,2]}],"server":"server2"}` {
		t.Fatalf("read reply: %s", got)
	}
	r, err := DecodeReply(Failure(CodeCQL, "boom", "server0", "r1").Encode())
	if err != nil || r.Code != "CQL" || ParseCode(r.Code) != CodeCQL || r.Error != "boom" {
		t.Fatalf("failure reply: %+v %v", r, err)
	}
}

func BenchmarkOrderCodec(b *testing.B) {
	o := &Order{Epoch: 3, Seq: 42, Timestamp: 1700000000000000, Leader: "server0", Writes: []Write{{RequestID: "req-0123456789", Stmt: "UPDATE grade SET events = events + [42] WHERE id = 7", Origin: "server1"}}}
	b.ReportAllocs()
	for b.Loop() {
		var out Order
		if err := Decode(MustEncode(o), &out); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLastTimestamp(t *testing.T) {
	o := Order{Timestamp: 100, Writes: make([]Write, 5)}
	if o.LastTimestamp() != 104 {
		t.Fatalf("group of 5 from 100: last %d", o.LastTimestamp())
	}
	marker := Order{Timestamp: 100, Kind: OrderEpoch}
	if marker.LastTimestamp() != 100 {
		t.Fatalf("marker: %d", marker.LastTimestamp())
	}
}

// TestDecodesEntriesOfAnEarlierVersion: an ORDER or heartbeat written
// before fields were added at its end still decodes, with their zero
// values (a replica joining today replays a log written by yesterday's
// workers); one with more fields than this version knows is refused.
func TestDecodesEntriesOfAnEarlierVersion(t *testing.T) {
	type orderV1 struct {
		_msgpack  struct{} `msgpack:",as_array"`
		Epoch     uint64
		Seq       uint64
		Kind      OrderKind
		Timestamp int64
		Leader    string
		Writes    []Write
	}
	b, err := msgpack.Marshal(&orderV1{Epoch: 2, Seq: 9, Timestamp: 77, Leader: "s1", Writes: []Write{{RequestID: "r", Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s2"}}})
	if err != nil {
		t.Fatal(err)
	}
	var o Order
	if err := Decode(append([]byte{byte(tagOrder)}, b...), &o); err != nil {
		t.Fatalf("an ORDER of the earlier layout: %v", err)
	}
	if o.Seq != 9 || o.Epoch != 2 || len(o.Writes) != 1 || o.Writes[0].Origin != "s2" || o.Member != nil || o.SnapshotBy != "" {
		t.Fatalf("decoded %+v", o)
	}
	longer, _ := msgpack.Marshal([]any{uint64(2), uint64(9), 0, int64(1), "s1", nil, "", nil, "a field from the future"})
	if err := Decode(append([]byte{byte(tagOrder)}, longer...), &o); !errors.Is(err, ErrMalformed) {
		t.Fatalf("an ORDER with more fields than this version knows: %v, want ErrMalformed", err)
	}
}

// An Accepted of a newer leader, with fields this version does not know,
// is read without them: an older worker's forwards keep working during a
// rolling upgrade. An older leader's, without Answered, reads as 0.
func TestAcceptedOfAnotherVersion(t *testing.T) {
	longer, _ := msgpack.Marshal([]any{uint64(4), uint64(12), "r1", uint64(11), "a field from the future"})
	var a Accepted
	if err := Decode(append([]byte{byte(tagAccepted)}, longer...), &a); err != nil || a.Epoch != 4 || a.Seq != 12 || a.RequestID != "r1" || a.Answered != 11 {
		t.Fatalf("an Accepted with more fields: %+v, %v", a, err)
	}
	shorter, _ := msgpack.Marshal([]any{uint64(4), uint64(12), "r1"})
	a = Accepted{}
	if err := Decode(append([]byte{byte(tagAccepted)}, shorter...), &a); err != nil || a.Seq != 12 || a.Answered != 0 {
		t.Fatalf("an Accepted of an earlier version: %+v, %v", a, err)
	}
}

func TestChangeKeyString(t *testing.T) {
	for k, want := range map[ChangeKey]string{{}: "0.0", {Seq: 42, Index: 3}: "42.3", {Seq: 1<<64 - 1, Index: 1<<32 - 1}: "18446744073709551615.4294967295"} {
		if got := k.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", k, got, want)
		}
		if back, err := ParseChangeKey(want); err != nil || back != k {
			t.Errorf("ParseChangeKey(%q) = %v, %v", want, back, err)
		}
	}
}

// Encode writes the tag, then exactly msgpack.Marshal's bytes (the log and
// every worker read them so).
func TestEncodeIsTagAndMarshal(t *testing.T) {
	big := &Order{Epoch: 3, Seq: 42, Timestamp: 7, Leader: "s0"}
	for i := range 300 {
		big.Writes = append(big.Writes, Write{RequestID: strings.Repeat("r", i), Stmt: strings.Repeat("s", 3*i), Origin: "server1"})
	}
	for _, m := range []Message{
		big, &Order{Epoch: 1, Seq: 2, Kind: OrderMember, Member: &MemberChange{Op: MemberAdd, ID: "s1", Gen: "g"}},
		&Ack{Worker: "s1", Applied: 9, Outcomes: []Outcome{{Seq: 9, Index: 2, Code: CodeCQL, Error: "boom"}}, Gen: "g"},
		&Forward{RequestID: "r", Reply: "_INBOX.x", Stmt: "UPDATE t SET a = 1 WHERE k = 1", Origin: "s1", Consistency: ConsistencyOne},
		&Accepted{Epoch: 1, Seq: 2, RequestID: "r"}, &Heartbeat{Worker: "s1", Applied: 3, Restoring: &RestoreProgress{Seq: 1}},
	} {
		b, err := msgpack.Marshal(m)
		if got := MustEncode(m); err != nil || !bytes.Equal(got, append([]byte{byte(m.tag())}, b...)) {
			t.Errorf("%T: Encode differs from the tag and msgpack.Marshal (%v)", m, err)
		}
	}
}

// BenchmarkOrderCodec64 is an ORDER of 64 writes (make bench's group
// commit) encoded once and decoded once, per write.
func BenchmarkOrderCodec64(b *testing.B) {
	o := &Order{Epoch: 3, Seq: 42, Timestamp: 1700000000000000, Leader: "server0"}
	for i := range 64 {
		o.Writes = append(o.Writes, Write{RequestID: "req-0123456789" + string(rune('a'+i%26)), Stmt: "UPDATE bench_list SET events = events + [42] WHERE id = 7", Origin: "server1"})
	}
	b.ReportAllocs()
	for b.Loop() {
		var out Order
		if err := Decode(MustEncode(o), &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/write")
}
