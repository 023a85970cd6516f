package messages

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// The reply of a write is the one message every write crosses the broker
// with, and encoding/json's reflection was most of its cost on both ends
// (leader and client profiles). These fast paths handle the flat replies
// of writes, byte for byte as encoding/json writes and reads them, and
// leave everything else (rows, columns, escapes) to encoding/json; the
// fuzz tests hold them to that.

// appendFlat appends r as encoding/json marshals it, or reports false
// if r has a field or a character the fast path does not write.
func appendFlat(b []byte, r *Reply) ([]byte, bool) {
	if r.Columns != nil || r.Rows != nil {
		return b, false
	}
	b = append(b, `{"status":`...)
	var ok bool
	if b, ok = appendPlain(b, r.Status); !ok {
		return b, false
	}
	if r.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), r.Seq, 10)
	}
	if r.Index != 0 {
		b = strconv.AppendUint(append(b, `,"index":`...), uint64(r.Index), 10)
	}
	for _, f := range [...]struct {
		key, v string
	}{{`,"server":`, r.Server}, {`,"code":`, r.Code}, {`,"error":`, r.Error}, {`,"request_id":`, r.RequestID}} {
		if f.v == "" {
			continue
		}
		if b, ok = appendPlain(append(b, f.key...), f.v); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendPlain appends s quoted if encoding/json would write it unescaped:
// printable ASCII but for '"', '\\' and the HTML characters it escapes.
func appendPlain(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// decodeFlat reads a reply of only string and unsigned fields, with no
// white space and no escapes, as encoding/json would; false for anything
// else, which the caller gives to encoding/json.
func decodeFlat(data []byte, r *Reply) bool {
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return false
	}
	d := data[1 : len(data)-1]
	for len(d) > 0 {
		key, ok := flatBytes(&d)
		if !ok || len(d) == 0 || d[0] != ':' {
			return false
		}
		d = d[1:]
		switch string(key) {
		case "status":
			r.Status, ok = flatString(&d)
		case "server":
			r.Server, ok = flatString(&d)
		case "code":
			r.Code, ok = flatString(&d)
		case "error":
			r.Error, ok = flatString(&d)
		case "request_id":
			r.RequestID, ok = flatString(&d)
		case "seq":
			r.Seq, ok = flatUint(&d, 64)
		case "index":
			var v uint64
			v, ok = flatUint(&d, 32)
			r.Index = uint32(v)
		default: // another field, or a case variant encoding/json folds
			return false
		}
		if !ok {
			return false
		}
		if len(d) > 0 {
			if d[0] != ',' || len(d) == 1 {
				return false
			}
			d = d[1:]
		}
	}
	return true
}

// flatBytes reads a quoted string without escapes or control
// characters, valid UTF-8, from the front of *d.
func flatBytes(d *[]byte) ([]byte, bool) {
	b := *d
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	n := bytes.IndexByte(b[1:], '"')
	if n < 0 {
		return nil, false
	}
	v := b[1 : n+1]
	for _, c := range v {
		if c < 0x20 || c == '\\' {
			return nil, false
		}
	}
	if !utf8.Valid(v) {
		return nil, false
	}
	*d = b[n+2:]
	return v, true
}

func flatString(d *[]byte) (string, bool) {
	v, ok := flatBytes(d)
	return string(v), ok
}

// flatUint reads an unsigned integer of at most bits bits, in JSON's
// spelling (no leading zero), from the front of *d.
func flatUint(d *[]byte, bits int) (uint64, bool) {
	b := *d
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || n > 1 && b[0] == '0' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:n]), 10, bits)
	if err != nil {
		return 0, false
	}
	*d = b[n:]
	return v, true
}
