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
		if d[0] != '"' {
			return false
		}
		end := bytes.IndexByte(d[1:], '"')
		if end < 0 || len(d) < end+3 || d[end+2] != ':' {
			return false
		}
		key := d[1 : end+1]
		d = d[end+3:]
		var str *string
		var num *uint64
		var index bool
		switch string(key) {
		case "status":
			str = &r.Status
		case "server":
			str = &r.Server
		case "code":
			str = &r.Code
		case "error":
			str = &r.Error
		case "request_id":
			str = &r.RequestID
		case "seq":
			num = &r.Seq
		case "index":
			index = true
		default: // another field, or a case variant encoding/json folds
			return false
		}
		var n int
		if str != nil {
			if len(d) == 0 || d[0] != '"' {
				return false
			}
			n = bytes.IndexByte(d[1:], '"')
			if n < 0 {
				return false
			}
			v := d[1 : n+1]
			if bytes.IndexByte(v, '\\') >= 0 || !utf8.Valid(v) || hasControl(v) {
				return false
			}
			*str = string(v)
			n += 2
		} else {
			for n < len(d) && d[n] >= '0' && d[n] <= '9' {
				n++
			}
			if n == 0 || n > 1 && d[0] == '0' {
				return false
			}
			bits := 64
			if index {
				bits = 32
			}
			v, err := strconv.ParseUint(string(d[:n]), 10, bits)
			if err != nil {
				return false
			}
			if index {
				r.Index = uint32(v)
			} else {
				*num = v
			}
		}
		d = d[n:]
		if len(d) > 0 {
			if d[0] != ',' || len(d) == 1 {
				return false
			}
			d = d[1:]
		}
	}
	return true
}

func hasControl(v []byte) bool {
	for _, c := range v {
		if c < 0x20 {
			return true
		}
	}
	return false
}
