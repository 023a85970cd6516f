package feed

import (
	"strconv"
	"unicode/utf8"

	"github.com/chorusdb/chorus/messages"
)

// Encode is a change as the feed carries it: JSON as a person reads it in
// `nats sub` (list<int> stays list<int>, not list\u003cint\u003e). It
// writes what encoding/json writes for a Change with HTML escaping off,
// byte for byte (TestEncodeIsEncodingJSON), without reflection: the leader
// encodes every committed write.
func Encode(ch messages.Change) ([]byte, error) {
	b := make([]byte, 0, 160+len(ch.Stmt)+len(ch.Table)+len(ch.RequestID)+len(ch.Error))
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ch.Seq, 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, uint64(ch.Index), 10)
	b = append(b, `,"table":`...)
	b = appendString(b, ch.Table)
	if len(ch.Tables) > 0 {
		b = append(b, `,"tables":[`...)
		for i, t := range ch.Tables {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"kind":`...)
	b = appendString(b, ch.Kind)
	b = append(b, `,"stmt":`...)
	b = appendString(b, ch.Stmt)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ch.Timestamp, 10)
	b = append(b, `,"request_id":`...)
	b = appendString(b, ch.RequestID)
	b = append(b, `,"origin":`...)
	b = appendString(b, ch.Origin)
	b = append(b, `,"epoch":`...)
	b = strconv.AppendUint(b, ch.Epoch, 10)
	b = append(b, `,"outcome":`...)
	b = appendString(b, ch.Outcome)
	if ch.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, ch.Error)
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does
// without HTML escaping: quotes, backslashes and control characters
// escaped, invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped (they
// end lines in JavaScript).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
