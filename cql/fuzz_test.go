package cql

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"  /* lead */ INSERT INTO t (k, v) VALUES (1, 'now');",
	";",
	"SELECT * FROM t",
	"select a.b, now() from server0.t where k = 1 -- c",
	"SELECT * FROM system.local;",
	"SELECT * FROM \"Server0\".t /* x */;",
	"INSERT INTO t (k, v, u, d) VALUES (1, now(), uuid(), currentDate()) IF NOT EXISTS USING TTL 5 AND TIMESTAMP 6;",
	"INSERT INTO t (k, v) VALUES (1, toTimestamp(system.now()))",
	"INSERT INTO t (k, v) VALUES (1, 'it''s now()') -- now()",
	"INSERT INTO t (k, v) VALUES (1, $$now()$$)",
	`INSERT INTO t JSON '{"k": 1, "ts": "now"}'`,
	"INSERT INTO ks.t (k) VALUES (1)",
	"UPDATE t USING TIMESTAMP 5 SET addr.city = 'x', m[now()] = 1 WHERE k = 1 IF EXISTS",
	"UPDATE t SET v = (ks.udt){a: 1} WHERE k = 1",
	"DELETE a.b, m['x'] FROM t USING TIMESTAMP 1 WHERE k = 1 IF a.b = 2",
	"BEGIN BATCH USING TIMESTAMP 1 INSERT INTO t (k) VALUES (now()); UPDATE t SET v = 1 WHERE k = 2 APPLY BATCH;",
	"BEGIN UNLOGGED BATCH DELETE FROM t WHERE k = 1; APPLY /* x */ BATCH",
	"BEGIN BATCH INSERT INTO t (k) VALUES (1) USING TTL 86400; UPDATE t USING TTL 100 AND TIMESTAMP 3 SET v = 1 WHERE k = 2; APPLY BATCH",
	"BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1 APPLY BATCH",
	"TRUNCATE TABLE t",
	"CREATE TABLE IF NOT EXISTS t (k uuid PRIMARY KEY, v frozen<addr>, w vector<float, 3>) WITH comment = 'x'",
	"ALTER TABLE t ADD x int",
	"DROP TABLE ks.t",
	"CREATE TYPE a (b int)",
	"CREATE CUSTOM INDEX IF NOT EXISTS i ON t (keys(m)) USING 'sai'",
	"DROP INDEX IF EXISTS ks.i",
	"USE ks",
	"CREATE KEYSPACE k WITH replication = {}",
	"GRANT ALL ON t TO bob",
	"SELECT 1; SELECT 2",
	"SELECT 'unterminated",
	"SELECT \"unterminated",
	"/* unterminated",
	"SELECT 1.5e10, 0xCAFE, 1h30m, 10µs, 123e4567-e89b-12d3-a456-426614174000 FROM t",
	"UPDATE t SET ts = currentTimestamp()AND x = 1",
}

// FuzzParse checks that Parse and Rewrite never panic, that every error
// wraps one sentinel, that Parse is stable on its own Text, and that
// Rewrite leaves a statement without non-deterministic calls unchanged
// and makes one with calls deterministic without changing its kind.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	sentinels := []error{ErrEmpty, ErrMultiple, ErrSyntax, ErrUnsupported, ErrKeyspace, ErrNondeterministic}
	isSentinel := func(err error) bool {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, _, err := Rewrite(text, at, zeros{}); err != nil && !isSentinel(err) {
			t.Fatalf("Rewrite(%q): error %v wraps no sentinel", text, err)
		}
		st, err := Parse(text, ks)
		if err != nil {
			if _, cerr := Classify(text, ks); fmt.Sprint(cerr) != fmt.Sprint(err) {
				t.Fatalf("Classify(%q): %v; Parse: %v", text, cerr, err)
			}
			if !isSentinel(err) {
				t.Fatalf("Parse(%q): error %v wraps no sentinel", text, err)
			}
			if !sameStatement(st, Statement{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", text, st, err)
			}
			return
		}
		if !st.Kind.valid() || st.Text == "" || !strings.Contains(text, st.Text) {
			t.Fatalf("Parse(%q) = %+v", text, st)
		}
		if st.Kind == KindBatch {
			if st.BatchType == "" || st.ApplyOffset < 0 || st.ApplyOffset >= len(st.Text) ||
				!strings.EqualFold(st.Text[st.ApplyOffset:st.ApplyOffset+5], "APPLY") {
				t.Fatalf("Parse(%q): bad batch %+v", text, st)
			}
		} else if st.BatchType != "" || st.ApplyOffset != -1 {
			t.Fatalf("Parse(%q): batch fields on %+v", text, st)
		}
		if again, err := Parse(st.Text, ks); err != nil || !sameStatement(again, st) {
			t.Fatalf("Parse(%q) = %+v, but Parse(its Text) = %+v, %v", text, st, again, err)
		}

		if cl, err := Classify(text, ks); err != nil || !sameStatement(cl, st) || !slices.Equal(cl.Names, st.Names) || cl.Nondeterministic != st.Nondeterministic {
			t.Fatalf("Classify(%q) = %+v, %v; Parse gave %+v", text, cl, err, st)
		}
		// The tokens Parse keeps give what a new lexing of Text gives.
		fresh := st
		fresh.lexed, fresh.nowErr = "", nil
		o1, c1, err1 := st.Rewrite(at, zeros{})
		o2, c2, err2 := Rewrite(st.Text, at, zeros{})
		if o1 != o2 || c1 != c2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("Statement.Rewrite of %q = %q, %v, %v; Rewrite = %q, %v, %v", st.Text, o1, c1, err1, o2, c2, err2)
		}
		if st.Kind == KindInsert || st.Kind == KindUpdate || st.Kind == KindDelete {
			w1, err1 := WithTimestamp(st, 42)
			w2, err2 := WithTimestamp(fresh, 42)
			if w1 != w2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("WithTimestamp of %q on kept tokens = %q, %v; on a new lexing %q, %v", st.Text, w1, err1, w2, err2)
			}
		}
		// Lowering TTLs changes numbers only: the statement parses the same.
		if lowered, changed := WithTTLElapsed(st.Text, 7); changed {
			again, err := Parse(lowered, ks)
			if err == nil && again.Kind == KindBatch && !strings.EqualFold(lowered[again.ApplyOffset:again.ApplyOffset+5], "APPLY") {
				t.Fatalf("WithTTLElapsed(%q) = %q: its APPLY is not at %d", st.Text, lowered, again.ApplyOffset)
			}
			again.Text, again.ApplyOffset = st.Text, st.ApplyOffset // numbers shorter or longer
			if err != nil || !sameStatement(again, st) {
				t.Fatalf("WithTTLElapsed(%q) = %q, which parses as %+v, %v; want %+v", st.Text, lowered, again, err, st)
			}
		}
		if toks, _ := lex(st.Text); st.Nondeterministic != (len(findCalls(toks)) > 0) {
			t.Fatalf("Parse(%q).Nondeterministic = %v, findCalls finds %v", text, st.Nondeterministic, findCalls(toks))
		}

		out, changed, err := Rewrite(st.Text, at, zeros{})
		if err != nil {
			if !errors.Is(err, ErrNondeterministic) {
				t.Fatalf("Rewrite(%q): %v", st.Text, err)
			}
			return
		}
		toks, _ := lex(st.Text)
		calls := findCalls(toks)
		if len(calls) == 0 {
			if changed || out != st.Text {
				t.Fatalf("Rewrite(%q) = %q, %v; want it unchanged", st.Text, out, changed)
			}
			return
		}
		if !changed || out == st.Text {
			t.Fatalf("Rewrite(%q) = %q, %v; want it rewritten", st.Text, out, changed)
		}
		st2, err := Parse(out, ks)
		if err != nil && invalidCallPosition(toks, calls) {
			return // the call stood where no term can (INSERT INTO now(), a.b now()): invalid CQL before and after
		}
		if err != nil {
			t.Fatalf("Rewrite(%q) = %q, which Parse rejects: %v", st.Text, out, err)
		}
		st2.Text, st2.ApplyOffset, st.Text, st.ApplyOffset = "", 0, "", 0
		if !sameStatement(st2, st) {
			t.Fatalf("Rewrite(%q) = %q changed the statement from %+v to %+v", text, out, st, st2)
		}
		if out2, changed, err := Rewrite(out, at, zeros{}); err != nil || changed || out2 != out {
			t.Fatalf("Rewrite is not idempotent on %q: %q, %v", out, out2, err)
		}
	})
}

// invalidCallPosition reports whether a call follows a name (as in
// INSERT INTO now() or a.b now()), where CQL has no term: the literal's
// type hint then reads as a call or a missing table name.
func invalidCallPosition(toks []token, calls []call) bool {
	for _, c := range calls {
		for i, t := range toks {
			if t.start == c.start && i > 0 && (i > 1 && toks[i-1].isName() && toks[i-2].isPunct(".") ||
				toks[i-1].is("INTO") || toks[i-1].is("UPDATE") || toks[i-1].is("FROM")) {
				return true
			}
		}
	}
	return false
}
