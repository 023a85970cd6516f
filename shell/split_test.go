package shell

import (
	"slices"
	"testing"
)

func TestSplitter(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    []string
		pending bool
	}{
		{"one line", []string{"SELECT * FROM t;"}, []string{"SELECT * FROM t"}, false},
		{"no semicolon yet", []string{"SELECT * FROM t"}, nil, true},
		{"two lines", []string{"CREATE TABLE t (id int PRIMARY KEY,", "  v text);"}, []string{"CREATE TABLE t (id int PRIMARY KEY,\n  v text)"}, false},
		{"two statements on a line", []string{"INSERT INTO t (k) VALUES (1); SELECT * FROM t;"}, []string{"INSERT INTO t (k) VALUES (1)", "SELECT * FROM t"}, false},
		{"rest pending", []string{"SELECT 1 FROM t; SELECT"}, []string{"SELECT 1 FROM t"}, true},
		{"empty statements", []string{";", " ; ;"}, nil, false},
		{"blank lines", []string{"", "   "}, nil, false},
		{"semicolon in string", []string{"INSERT INTO t (k, v) VALUES (1, 'a;b');"}, []string{"INSERT INTO t (k, v) VALUES (1, 'a;b')"}, false},
		{"doubled quote", []string{"INSERT INTO t (k, v) VALUES (1, 'it''s;');"}, []string{"INSERT INTO t (k, v) VALUES (1, 'it''s;')"}, false},
		{"string across lines", []string{"INSERT INTO t (k, v) VALUES (1, 'a;", "b');"}, []string{"INSERT INTO t (k, v) VALUES (1, 'a;\nb')"}, false},
		{"open string", []string{"INSERT INTO t (k, v) VALUES (1, 'a;"}, nil, true},
		{"quoted name", []string{`SELECT "a;b" FROM t;`}, []string{`SELECT "a;b" FROM t`}, false},
		{"dollar block", []string{"INSERT INTO t (k, v) VALUES (1, $$x; 'y';", "z$$);"}, []string{"INSERT INTO t (k, v) VALUES (1, $$x; 'y';\nz$$)"}, false},
		{"line comments", []string{"SELECT * -- not; this", "FROM t; // nor; this"}, []string{"SELECT *  \nFROM t"}, false},
		{"comment only", []string{"-- just a remark;"}, nil, false},
		{"comment quote", []string{"SELECT * FROM t -- don't", ";"}, []string{"SELECT * FROM t"}, false},
		{"block comment", []string{"SELECT /* a; b", "c; */ * FROM t;"}, []string{"SELECT   * FROM t"}, false},
		{"open block comment", []string{"/* a;"}, nil, true},
		{"dash in expression", []string{"UPDATE t SET c = c - 1 WHERE k = 1;"}, []string{"UPDATE t SET c = c - 1 WHERE k = 1"}, false},
		{"batch", []string{"BEGIN BATCH", "INSERT INTO t (k) VALUES (1);", "INSERT INTO t (k) VALUES (2);", "APPLY BATCH;"},
			[]string{"BEGIN BATCH\nINSERT INTO t (k) VALUES (1);\nINSERT INTO t (k) VALUES (2);\nAPPLY BATCH"}, false},
		{"batch lower case", []string{"begin unlogged batch update t set v = 1 where k = 1; apply batch; select * from t;"},
			[]string{"begin unlogged batch update t set v = 1 where k = 1; apply batch", "select * from t"}, false},
		{"batch open", []string{"BEGIN BATCH INSERT INTO t (k) VALUES (1);"}, nil, true},
		{"apply batch in string", []string{"BEGIN BATCH INSERT INTO t (k, v) VALUES (1, 'APPLY BATCH');"}, nil, true},
		{"not a batch", []string{"INSERT INTO begin (k) VALUES (1);"}, []string{"INSERT INTO begin (k) VALUES (1)"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Splitter
			var got []string
			for _, l := range tt.lines {
				got = append(got, s.Feed(l)...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("statements %q, want %q", got, tt.want)
			}
			if s.Pending() != tt.pending {
				t.Errorf("Pending() = %v, want %v", s.Pending(), tt.pending)
			}
		})
	}
}

func TestSplitterReset(t *testing.T) {
	var s Splitter
	s.Feed("INSERT INTO t (k, v) VALUES (1, 'open")
	s.Reset()
	if s.Pending() {
		t.Fatal("pending after Reset")
	}
	if got := s.Feed("SELECT * FROM t;"); !slices.Equal(got, []string{"SELECT * FROM t"}) {
		t.Fatalf("after Reset: %q", got)
	}
}

func TestIsRead(t *testing.T) {
	for stmt, want := range map[string]bool{
		"SELECT * FROM t": true, "select*from t": true, "DESCRIBE TABLES": true, "desc table t": true,
		"INSERT INTO t (k) VALUES (1)": false, "SELECTED": false, "": false, "BEGIN BATCH APPLY BATCH": false,
	} {
		if got := IsRead(stmt); got != want {
			t.Errorf("IsRead(%q) = %v, want %v", stmt, got, want)
		}
	}
}
