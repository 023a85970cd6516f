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
	for i := range toks {
		if !toks[i].is("USING") { // reserved: never a name
			continue
		}
		_, at, _ := usingClause(toks, i)
		if at < 0 {
			continue
		}
		n, err := strconv.ParseInt(toks[at].val, 10, 64)
		if err != nil || n <= 0 || n > maxTTL {
			// Not a plain count of seconds, no expiry, or too large: the
			// error names the value, and must read the same everywhere.
			continue
		}
		b.WriteString(text[last:toks[at].start])
		b.WriteString(strconv.FormatInt(max(1, n-elapsed), 10))
		last = toks[at].end
	}
	if last == 0 {
		return text, false
	}
	b.WriteString(text[last:])
	return b.String(), true
}

// maxTTL is Cassandra's largest TTL (20 years).
const maxTTL = 630720000

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
