package cql

import (
	"strconv"
	"strings"
)

// WithTTLElapsed returns text with every literal USING TTL n lowered by
// elapsed seconds (to at least 1; TTL 0, no expiry, stays), and whether
// it changed anything. Cassandra counts a TTL from the moment a node
// applies the write, so a replica applying a write late (catching up, or
// replaying the log after a restore) would keep its cells longer than the
// others: the replica gives the TTL what is left of it since the leader
// timestamped the write, and every replica's cells expire at the same time
// (to the second, and to the skew between the machines' clocks), as a
// restored snapshot's do.
func WithTTLElapsed(text string, elapsed int64) (string, bool) {
	if elapsed <= 0 || !containsFold(text, "TTL") {
		return text, false
	}
	buf, err := lexScratch(text)
	defer buf.release()
	if err != nil {
		return text, false // the apply reports the statement's own error
	}
	toks := buf.toks
	var b strings.Builder
	last := 0
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].is("TTL") || toks[i+1].kind != tokNumber || !usingOption(toks, i) {
			continue
		}
		n, err := strconv.ParseInt(toks[i+1].val, 10, 64)
		if err != nil || n <= 0 || n > maxTTL {
			// Not a plain count of seconds, no expiry, or too large: the
			// error names the value, and must read the same everywhere.
			continue
		}
		b.WriteString(text[last:toks[i+1].start])
		b.WriteString(strconv.FormatInt(max(1, n-elapsed), 10))
		last = toks[i+1].end
	}
	if last == 0 {
		return text, false
	}
	b.WriteString(text[last:])
	return b.String(), true
}

// maxTTL is Cassandra's largest TTL (20 years).
const maxTTL = 630720000

// usingOption reports whether toks[i] is an option of a USING clause:
// USING TTL, or TTL after AND within one (TTL is not reserved, so a
// column named ttl elsewhere is left alone).
func usingOption(toks []token, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch {
		case toks[j].is("USING"):
			return true
		case toks[j].is("AND") && j >= 2 && (toks[j-2].is("TIMESTAMP") || toks[j-2].is("TTL")):
			j -= 2 // over the option before it and its value
			if toks[j].is("TIMESTAMP") || toks[j].is("TTL") {
				continue
			}
			return false
		default:
			return false
		}
	}
	return false
}

// containsFold reports whether s holds sub (upper case, ASCII) in any
// case, without allocating: it runs on every write a replica applies late.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
