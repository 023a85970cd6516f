package messages

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func replySeeds() []Reply {
	return []Reply{
		WriteSuccess(42, "server1", "NUID123abc"),
		OutcomeReply(Outcome{Seq: 7, Index: 3, Code: CodeCQL, Error: "Undefined column name x"}, "s0", "id-1"),
		Failure(CodeUnavailable, `no leader: "quoted" <html> & \\ back`, "s2", "ä-unicode"),
		ReadSuccess([]string{"k", "v"}, json.RawMessage(`[{"k":1,"v":[1,2]}]`), "s1"),
		{},
		{Status: StatusSuccess, Seq: 1<<64 - 1, Index: 1<<32 - 1},
		{Status: "SUCCESS\n", Server: "tab\there"},
	}
}

func TestReplyEncodeIsEncodingJSON(t *testing.T) {
	for _, r := range replySeeds() {
		want, _ := json.Marshal(r)
		if got := r.Encode(); !bytes.Equal(got, want) {
			t.Errorf("Encode(%+v) = %s, encoding/json writes %s", r, got, want)
		}
	}
}

// Whatever the fast decoder accepts, it reads exactly as encoding/json.
func FuzzDecodeFlatIsEncodingJSON(f *testing.F) {
	for _, r := range replySeeds() {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	for _, s := range []string{`{"status":"SUCCESS","seq":01}`, `{"Status":"SUCCESS"}`, `{"seq":1,"seq":2}`,
		`{"status":"SUCCESS",}`, `{"index":4294967296}`, `{"status":"a\"b"}`, `{"status":"\xff"}`, `{"seq":-1}`, `{}`, `{"status":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Reply
		if !decodeFlat(data, &fast) {
			return
		}
		var want Reply
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodeFlat accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("decodeFlat(%q) = %+v, encoding/json reads %+v", data, fast, want)
		}
	})
}

// Whatever the fast encoder writes is what encoding/json writes.
func FuzzEncodeFlatIsEncodingJSON(f *testing.F) {
	f.Add("SUCCESS", uint64(5), uint32(1), "server0", "", "", "req")
	f.Add("ERROR", uint64(0), uint32(0), "s", "CQL", "bad <x> & \"y\"", "")
	f.Fuzz(func(t *testing.T, status string, seq uint64, index uint32, server, code, msg, id string) {
		r := Reply{Status: status, Seq: seq, Index: index, Server: server, Code: code, Error: msg, RequestID: id}
		want, _ := json.Marshal(r)
		if got := r.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("Encode(%+v) = %s, encoding/json writes %s", r, got, want)
		}
		back, err := DecodeReply(want)
		if err == nil && !reflect.DeepEqual(back, r) && !strings.ContainsRune(status+server+code+msg+id, '\uFFFD') {
			var j Reply
			_ = json.Unmarshal(want, &j)
			if !reflect.DeepEqual(back, j) {
				t.Fatalf("DecodeReply(%s) = %+v, encoding/json reads %+v", want, back, j)
			}
		}
	})
}

func BenchmarkReplyEncode(b *testing.B) {
	r := WriteSuccess(123456, "server1", "Zx8k2LmQp0Rr7uYvWcTnBd")
	for b.Loop() {
		_ = r.Encode()
	}
}

func BenchmarkReplyDecode(b *testing.B) {
	data := WriteSuccess(123456, "server1", "Zx8k2LmQp0Rr7uYvWcTnBd").Encode()
	for b.Loop() {
		if _, err := DecodeReply(data); err != nil {
			b.Fatal(err)
		}
	}
}
