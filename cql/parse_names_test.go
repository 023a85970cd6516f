package cql

import (
	"reflect"
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	cases := map[string][]string{
		`SELECT * FROM Grade WHERE id = 1`:                                                     {"grade"},
		`UPDATE "Chorus_State" SET a = 1 WHERE id = 0`:                                         {"Chorus_State"},
		`DELETE FROM chorus_requests WHERE id = 'x'`:                                           {"chorus_requests"},
		`BEGIN BATCH INSERT INTO a (k) VALUES (1); UPDATE b SET v = 1 WHERE k = 1 APPLY BATCH`: {"a", "b"},
	}
	for stmt, want := range cases {
		st, err := Parse(stmt, "ks")
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if !slices.Equal(st.Names, want) {
			t.Errorf("%s: names %v, want %v", stmt, st.Names, want)
		}
	}
	st, err := Parse(`DROP TABLE chorus_state`, "ks")
	if err != nil || !slices.Contains(st.Names, "chorus_state") {
		t.Fatalf("DDL names %v %v", st.Names, err)
	}
}

// sameStatement compares statements apart from Names (checked in TestNames),
// Nondeterministic (FuzzParse) and the tokens Parse keeps.
func sameStatement(a, b Statement) bool {
	for _, st := range []*Statement{&a, &b} {
		st.Names, st.Nondeterministic, st.lexed, st.nowErr = nil, false, "", nil
	}
	return reflect.DeepEqual(a, b)
}
