package feed

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/chorusdb/chorus/messages"
)

// reference is what the feed sent before Encode was written by hand:
// encoding/json with HTML escaping off.
func reference(ch messages.Change) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ch); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

var awkward = []string{
	"", "plain", "UPDATE t SET l = l + [1] WHERE k = 'it''s'", `quote " backslash \ slash /`,
	"<html> & list<int>", "tab\tnewline\ncr\rbs\bff\f", "\x00\x01\x1f\x7f", "é ü 日本 🎉",
	"bad utf8 \xff\xfe end", "\xc3", "line sep \u2028 para sep \u2029", "\ufffd", "a\u00a0b",
}

func TestEncodeIsEncodingJSON(t *testing.T) {
	for i, s := range awkward {
		for _, ch := range []messages.Change{
			{Seq: uint64(i), Index: uint32(i), Table: s, Kind: "UPDATE", Stmt: s, Timestamp: -5, RequestID: s, Origin: "server1", Epoch: 3, Outcome: messages.ChangeSuccess},
			{Seq: 1<<64 - 1, Index: 1<<32 - 1, Table: "t", Tables: []string{"t", s}, Stmt: s, Timestamp: 1 << 62, Outcome: messages.ChangeUnknown, Error: s},
			{Tables: []string{}},
		} {
			got, err := Encode(ch)
			if want := reference(ch); err != nil || !bytes.Equal(got, want) {
				t.Errorf("Encode(%+v)\n got %s, %v\nwant %s", ch, got, err, want)
			}
		}
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, uint64(len(s)), int64(-len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n uint64, ts int64) {
		ch := messages.Change{Seq: n, Index: uint32(n), Table: a, Tables: []string{a, b}, Kind: b, Stmt: a + b,
			Timestamp: ts, RequestID: b, Origin: a, Epoch: n >> 3, Outcome: b, Error: a}
		got, err := Encode(ch)
		if want := reference(ch); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Encode(%+v)\n got %s, %v\nwant %s", ch, got, err, want)
		}
	})
}
