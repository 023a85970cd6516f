package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// TestCassandraSchemaChangeRunAgain: a schema change that ran but was not
// recorded (the worker died in between) is recorded as the SUCCESS it was
// when its ORDER is applied again, not run a second time into "already
// exists"; one whose intent was written but that never ran is run; and
// one that fails fails again alike.
func TestCassandraSchemaChangeRunAgain(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := newTestKeyspace(t, ctx, hosts)
	s, direct, ks := k.store, k.session, k.name
	ts := time.Now().UnixMicro()
	order := func(seq uint64, id, stmt string) messages.Order {
		return messages.Order{Epoch: 1, Seq: seq, Timestamp: ts + int64(seq)*1000, Writes: []messages.Write{{RequestID: id, Stmt: stmt}}}
	}
	apply := func(o messages.Order) messages.Outcome {
		t.Helper()
		outs, err := s.Apply(ctx, []messages.Order{o})
		if err != nil {
			t.Fatalf("Apply seq %d: %v", o.Seq, err)
		}
		return outs[0][0]
	}

	// Ran, not recorded: SUCCESS, and the table is there once.
	create := order(1, "create", "CREATE TABLE grade (id int PRIMARY KEY, v int)")
	if err := s.RunUnrecorded(ctx, &create, 0); err != nil {
		t.Fatal(err)
	}
	if out := apply(create); out.Code != messages.CodeOK {
		t.Fatalf("CREATE TABLE applied again after an unrecorded run: %+v; want SUCCESS as its first run had", out)
	}

	// Intent written but never ran: this is reproduced by running a
	// failing ALTER unrecorded (it changes nothing, as a run that never
	// happened), then applying a valid statement at the same position —
	// the schema is unchanged, so it runs.
	add := order(2, "add", "ALTER TABLE grade ADD w int")
	if err := s.RunUnrecorded(ctx, &messages.Order{Epoch: 1, Seq: 2, Timestamp: add.Timestamp, Writes: []messages.Write{{RequestID: "add", Stmt: "ALTER TABLE grade ADD v int"}}}, 0); err == nil {
		t.Fatal("adding an existing column ran without error")
	}
	if out := apply(add); out.Code != messages.CodeOK {
		t.Fatalf("ALTER after an intent that changed nothing: %+v; want SUCCESS", out)
	}
	var n int
	if err := direct.Query(`SELECT count(*) FROM system_schema.columns WHERE keyspace_name = ? AND table_name = 'grade' AND column_name = 'w'`, ks).Scan(&n); err != nil || n != 1 {
		t.Fatalf("column w: %d, %v; want it added", n, err)
	}

	// A schema change that fails the first time fails again: the same
	// outcome as the replicas that ran it once.
	again := order(3, "again", "CREATE TABLE grade (id int PRIMARY KEY)")
	if err := s.RunUnrecorded(ctx, &again, 0); err == nil {
		t.Fatal("creating an existing table ran without error")
	}
	if out := apply(again); out.Code != messages.CodeCQL {
		t.Fatalf("a failing CREATE applied again: %+v; want its CQL error again", out)
	}
}
