package messages

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseReadConsistency(t *testing.T) {
	good := map[string]ReadConsistency{
		"":               {Level: ReadLocal},
		"local":          {Level: ReadLocal},
		"LOCAL":          {Level: ReadLocal},
		"linearizable":   {Level: ReadLinearizable},
		"Linearizable":   {Level: ReadLinearizable},
		"min_seq:42":     {Level: ReadMinSeq, Seq: 42},
		"min_seq:0":      {Level: ReadMinSeq},
		"bounded:1s":     {Level: ReadBounded, Bound: time.Second},
		"bounded:250ms":  {Level: ReadBounded, Bound: 250 * time.Millisecond},
		" linearizable ": {Level: ReadLinearizable},
	}
	for in, want := range good {
		got, err := ParseReadConsistency(in)
		if err != nil || got != want {
			t.Errorf("ParseReadConsistency(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseReadConsistency(got.String()); err != nil || back != got {
			t.Errorf("%+v.String() = %q parses to %+v, %v", got, got.String(), back, err)
		}
	}
	for _, in := range []string{"all", "one", "strong", "min_seq", "min_seq:", "min_seq:-1", "min_seq:x",
		"bounded", "bounded:", "bounded:0s", "bounded:-1s", "bounded:soon", "local:1", "linearizable:2"} {
		_, err := ParseReadConsistency(in)
		if err == nil {
			t.Errorf("ParseReadConsistency(%q) accepted", in)
			continue
		}
		// The error names the header and every accepted form.
		if msg := err.Error(); !strings.Contains(msg, HeaderConsistency) || !strings.Contains(msg, ReadForms) {
			t.Errorf("ParseReadConsistency(%q): error %q does not name the header and the forms", in, msg)
		}
	}
}

func TestReadIndexRoundTrip(t *testing.T) {
	var r ReadIndex
	if err := Decode(MustEncode(&ReadIndex{Origin: "server1"}), &r); err != nil || r.Origin != "server1" {
		t.Fatalf("read index round trip: %+v, %v", r, err)
	}
	var rep ReadIndexReply
	if err := Decode(MustEncode(&ReadIndexReply{Epoch: 3, Seq: 9}), &rep); err != nil || rep.Seq != 9 || rep.Epoch != 3 {
		t.Fatalf("read index reply round trip: %+v, %v", rep, err)
	}
	if err := Decode(MustEncode(&ReadIndexReply{Code: CodeUnavailable, Error: "not leading"}), &rep); err != nil || rep.Code != CodeUnavailable {
		t.Fatalf("read index failure round trip: %+v, %v", rep, err)
	}
	if err := Decode(MustEncode(&ReadIndexReply{Epoch: 3}), &rep); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a successful read index without seq was accepted: %v", err)
	}
	if err := Decode(MustEncode(&ReadIndex{}), &r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a read index request without origin was accepted: %v", err)
	}
}

func TestReadReplyCarriesSeq(t *testing.T) {
	got := string(ReadSuccessAt([]string{"id"}, []byte(`[{"id":7}]`), "server2", 42).Encode())
	if got != `{"status":"SUCCESS","seq":42,"columns":["id"],"rows":[{"id":7}],"server":"server2"}` {
		t.Fatalf("read reply %s", got)
	}
}
