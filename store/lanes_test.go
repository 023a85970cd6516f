package store

import (
	"testing"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

func laneRefs(t *testing.T, stmts ...string) []ref {
	t.Helper()
	o := &messages.Order{Seq: 1}
	var rs []ref
	for k, s := range stmts {
		st, err := cql.Parse(s, "ks")
		if err != nil {
			t.Fatal(err)
		}
		o.Writes = append(o.Writes, messages.Write{Stmt: s})
		rs = append(rs, ref{o: o, k: k, st: st})
	}
	return rs
}

// lanesOf maps each write's index to its lane.
func lanesOf(lanes [][]ref) map[int]int {
	at := map[int]int{}
	for l, lane := range lanes {
		prev := -1
		for _, r := range lane {
			if r.k <= prev {
				panic("a lane out of log order")
			}
			prev = r.k
			at[r.k] = l
		}
	}
	return at
}

func TestPlanLanes(t *testing.T) {
	app := func(id string) string { return "UPDATE g SET l = l + [1] WHERE id = " + id }
	rs := laneRefs(t, app("1"), app("2"), app("1"), "INSERT INTO g (id) VALUES (5)", app("01"), app("2"), "UPDATE h SET l = l + [1] WHERE id = 1")
	lanes, ok := planLanes(rs)
	if !ok {
		t.Fatal("not planned")
	}
	at := lanesOf(lanes)
	if len(at) != len(rs) {
		t.Fatalf("%d of %d writes in lanes", len(at), len(rs))
	}
	if at[0] != at[2] || at[0] != at[4] || at[1] != at[5] {
		t.Errorf("appends to one row in different lanes: %v", at)
	}

	// A row this check cannot name puts the table's ordered writes in one lane.
	rs = laneRefs(t, app("1"), app("2"), app("3"), app("4"), "UPDATE g SET l = l + [1] WHERE id = 'x'", app("5"), "INSERT INTO g (id) VALUES (5)")
	lanes, _ = planLanes(rs)
	at = lanesOf(lanes)
	for _, k := range []int{1, 2, 3, 4, 5} {
		if at[k] != at[0] {
			t.Errorf("ordered writes of g in lanes %v; want one", at)
		}
	}

	// A write that must keep its order against all: no lanes.
	if _, ok := planLanes(laneRefs(t, app("1"), "BEGIN BATCH UPDATE g SET a = 1 WHERE id = 1; APPLY BATCH")); ok {
		t.Error("a BATCH was planned into lanes")
	}
}
