package cql

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// result is what a non-deterministic function returns.
type result int

const (
	resTimeUUID result = iota + 1
	resUUID
	resTimestamp
	resDate
	resTime
)

// nondeterministic maps the native functions whose value differs from call
// to call to what they return. Cassandra 5.0 has a legacy and a snake_case
// name for each clock function. Names are as Cassandra stores them: lower
// case, so "now"() matches and "NOW"() (no such function) does not.
var nondeterministic = map[string]result{
	"now":               resTimeUUID,
	"currenttimeuuid":   resTimeUUID,
	"current_timeuuid":  resTimeUUID,
	"uuid":              resUUID,
	"currenttimestamp":  resTimestamp,
	"current_timestamp": resTimestamp,
	"currentdate":       resDate,
	"current_date":      resDate,
	"currenttime":       resTime,
	"current_time":      resTime,
}

// call is one call of a non-deterministic function: the byte span of
// [system.]name ( ) in the text.
type call struct {
	res        result
	name       string
	start, end int
}

// funcName returns the function name a token spells (unquoted names are
// case-insensitive), or "" if it is not a name.
func funcName(t token) string {
	switch t.kind {
	case tokIdent:
		return strings.ToLower(t.val)
	case tokQuoted:
		return t.val
	}
	return ""
}

// findCalls returns the calls of non-deterministic functions in toks, in
// text order. Only name ( ) counts: a column or table called now is never
// followed by an empty argument list, and the functions take no arguments
// (with arguments Cassandra rejects the call on every replica alike). A
// name qualified by another keyspace than system is a user function.
func findCalls(toks []token) []call {
	var calls []call
	for i, t := range toks {
		if !isEmptyCall(toks, i) {
			continue
		}
		name := funcName(t)
		res, ok := nondeterministic[name]
		if !ok {
			continue
		}
		start := t.start
		if i > 0 && toks[i-1].isPunct(".") {
			if i < 2 || !isSystemQualifier(toks[i-2]) {
				continue
			}
			start = toks[i-2].start
		}
		calls = append(calls, call{res: res, name: name, start: start, end: toks[i+2].end})
	}
	return calls
}

// isEmptyCall reports whether toks[i] is followed by ( ): a call without
// arguments, the shape of every call findCalls looks for. Tested first, it
// spares lower-casing every other name.
func isEmptyCall(toks []token, i int) bool {
	return i+2 < len(toks) && toks[i+1].isPunct("(") && toks[i+2].isPunct(")")
}

// hasCalls reports whether findCalls would find any call, without making
// the list.
func hasCalls(toks []token) bool {
	for i, t := range toks {
		if !isEmptyCall(toks, i) {
			continue
		}
		if _, ok := nondeterministic[funcName(t)]; !ok {
			continue
		}
		if i > 0 && toks[i-1].isPunct(".") && (i < 2 || !isSystemQualifier(toks[i-2])) {
			continue // a user function of another keyspace
		}
		return true
	}
	return false
}

// Rewrite replaces calls of non-deterministic functions with literal values
// computed from at (the leader-assigned write time) and rnd (randomness for
// uuids and the timeuuid clock sequence and node; nil means crypto/rand),
// so that every replica stores the same cells. It returns the new text and
// whether anything changed; text without such calls comes back unchanged.
// See the package documentation for the functions and their literals.
//
// Rewrite fails with ErrNondeterministic for a write that cannot be made
// deterministic (the string 'now' in an INSERT, UPDATE, DELETE or BATCH),
// and with ErrSyntax for text that does not lex. Offsets from Parse do not
// survive a rewrite: Parse the result again for its ApplyOffset.
func Rewrite(text string, at time.Time, rnd io.Reader) (string, bool, error) {
	buf, err := lexScratch(text)
	defer buf.release()
	if err != nil {
		return "", false, err
	}
	toks := buf.toks
	return rewrite(text, toks, at, rnd)
}

// Rewrite is the package's Rewrite of st.Text. For a statement from Parse
// without Nondeterministic calls it is what Parse found: Text unchanged,
// or the error of a 'now' string.
func (st Statement) Rewrite(at time.Time, rnd io.Reader) (string, bool, error) {
	if st.lexed != "" && st.lexed == st.Text && !st.Nondeterministic {
		if st.nowErr != nil {
			return "", false, st.nowErr
		}
		return st.Text, false, nil
	}
	return Rewrite(st.Text, at, rnd)
}

// rewrite is Rewrite of text lexed as toks.
func rewrite(text string, toks []token, at time.Time, rnd io.Reader) (string, bool, error) {
	if err := checkNowStrings(text, toks); err != nil {
		return "", false, err
	}
	calls := findCalls(toks)
	if len(calls) == 0 {
		return text, false, nil
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	g := generator{at: at.UTC(), rnd: rnd}
	var b strings.Builder
	b.Grow(len(text) + 40*len(calls))
	last := 0
	for _, c := range calls {
		lit, err := g.literal(c)
		if err != nil {
			return "", false, err
		}
		b.WriteString(text[last:c.start])
		b.WriteString(lit)
		// The literal ends in a digit or a quote where the call ended in
		// ')': keep it from running into what follows (now()AND, now()'x').
		if c.end < len(text) && !strings.ContainsRune(" \t\r\n),;]}", rune(text[c.end])) {
			b.WriteByte(' ')
		}
		last = c.end
	}
	b.WriteString(text[last:])
	return b.String(), true, nil
}

// generator produces the literals of one Rewrite.
type generator struct {
	at    time.Time
	rnd   io.Reader
	ticks int    // timeuuids produced so far: each gets the next 100 ns tick
	node  []byte // clock sequence (2 bytes) and node (6 bytes), read once
}

// Every literal carries a type hint, (type)literal, so that it has the
// function's type and not just a literal's: an untyped 1700000000000 would
// fit both toUnixTimestamp(timestamp) and toUnixTimestamp(date) and make
// the call ambiguous, an untyped '2025-01-31' would be stored in a text
// column where currentDate() is refused, and (timestamp)x - 1d keeps
// timestamp arithmetic working.
func (g *generator) literal(c call) (string, error) {
	switch c.res {
	case resTimeUUID:
		u, err := g.timeUUID(c.name)
		if err != nil {
			return "", err
		}
		return "(timeuuid)" + u, nil
	case resUUID:
		var b [16]byte
		if _, err := io.ReadFull(g.rnd, b[:]); err != nil {
			return "", fmt.Errorf("cql: reading randomness for uuid(): %w", err)
		}
		b[6] = b[6]&0x0f | 0x40 // version 4: random
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		return "(uuid)" + formatUUID(b), nil
	case resTimestamp:
		return "(timestamp)" + strconv.FormatInt(g.at.UnixMilli(), 10), nil
	case resDate:
		if y := g.at.Year(); y < 1 || y > 9999 {
			return "", fmt.Errorf("%w: cannot replace %s(): the write time %s is outside the years 1 to 9999", ErrNondeterministic, c.name, g.at)
		}
		return "(date)'" + g.at.Format("2006-01-02") + "'", nil
	case resTime:
		return "(time)'" + g.at.Format("15:04:05.000000000") + "'", nil
	}
	return "", fmt.Errorf("%w: cannot replace %s()", ErrNondeterministic, c.name)
}

// gregorianOffset is the number of seconds from the start of the Gregorian
// calendar (1582-10-15), where timeuuid time starts, to the Unix epoch.
const gregorianOffset = 12219292800

// timeUUID returns the next version-1 uuid at g.at.
func (g *generator) timeUUID(name string) (string, error) {
	sec := g.at.Unix() + gregorianOffset
	// 60-bit count of 100 ns ticks: enough until the year 5236.
	if sec < 0 || sec > (1<<60-1)/10_000_000-1 {
		return "", fmt.Errorf("%w: cannot replace %s(): the write time %s is outside the range of a timeuuid", ErrNondeterministic, name, g.at)
	}
	if g.node == nil {
		g.node = make([]byte, 8)
		if _, err := io.ReadFull(g.rnd, g.node); err != nil {
			return "", fmt.Errorf("cql: reading randomness for %s(): %w", name, err)
		}
		g.node[2] |= 0x01 // multicast bit: a random node, not a MAC address (RFC 4122 4.5)
	}
	t := uint64(sec)*10_000_000 + uint64(g.at.Nanosecond()/100) + uint64(g.ticks)
	g.ticks++
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(t))                   // time_low
	binary.BigEndian.PutUint16(b[4:6], uint16(t>>32))               // time_mid
	binary.BigEndian.PutUint16(b[6:8], uint16(t>>48)&0x0fff|0x1000) // version 1
	b[8] = g.node[0]&0x3f | 0x80                                    // clock_seq_hi, RFC 4122 variant
	b[9] = g.node[1]                                                // clock_seq_low
	copy(b[10:], g.node[2:])
	return formatUUID(b), nil
}

// formatUUID writes b in the 8-4-4-4-12 form.
func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// checkNowStrings rejects the string 'now' in a DML write. Cassandra reads
// 'now' (any case) as the current time when it assigns a string to a
// timestamp, so each replica would store its own clock's value. Without
// the schema the column's type is unknown, and 'now' for a text column
// cannot be told apart: the error says how to write either intent. JSON
// documents (INSERT ... JSON '...', fromJson('...')) are searched too.
func checkNowStrings(text string, toks []token) error {
	if len(toks) == 0 {
		return nil
	}
	switch first := toks[0]; {
	case first.is("INSERT"), first.is("UPDATE"), first.is("DELETE"), first.is("BEGIN"):
	default:
		return nil // reads are local, and DDL strings are options, not values
	}
	for i, t := range toks {
		if t.kind != tokString {
			continue
		}
		if strings.EqualFold(t.val, "now") {
			return fmt.Errorf("%w: the string %s at byte %d means the current time when it is stored in a timestamp, so every replica would store a different time; "+
				"write currentTimestamp() instead, which Chorus replaces with the write's time (or, for the text \"now\", write blobAsText(0x6e6f77))",
				ErrNondeterministic, text[t.start:t.end], t.start)
		}
		var topKeys bool // top-level keys of INSERT JSON are column names
		switch {
		case i > 0 && toks[i-1].is("JSON"):
			topKeys = true
		case i > 1 && toks[i-1].isPunct("(") && (funcName(toks[i-2]) == "fromjson" || funcName(toks[i-2]) == "from_json"):
		default:
			continue
		}
		if jsonHasNow(t.val, topKeys) {
			return fmt.Errorf("%w: the JSON in the string at byte %d holds the value \"now\", which means the current time when it is stored in a timestamp, so every replica would store a different time; "+
				"write the time itself, such as \"2025-01-31 12:00:00.000+0000\"", ErrNondeterministic, t.start)
		}
	}
	return nil
}

// jsonHasNow reports whether the JSON document doc holds a string equal to
// "now" in any case, ignoring the top-level object's keys if skipTopKeys.
// Nested keys count: a map<timestamp, ...> has timestamps as keys. The
// document need not be valid; it is scanned, not parsed.
func jsonHasNow(doc string, skipTopKeys bool) bool {
	type frame struct{ object, key bool }
	var stack []frame
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '{':
			stack = append(stack, frame{object: true, key: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].key = true
			}
		case ':':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].key = false
			}
		case '"':
			end := i + 1
			for end < len(doc) && doc[end] != '"' {
				if doc[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(doc) {
				end = len(doc) - 1
			}
			raw := doc[i : end+1]
			var s string
			if json.Unmarshal([]byte(raw), &s) != nil {
				s = strings.Trim(raw, `"`)
			}
			n := len(stack)
			topKey := n == 1 && stack[0].object && stack[0].key
			if strings.EqualFold(s, "now") && !(skipTopKeys && topKey) {
				return true
			}
			i = end
		}
	}
	return false
}
