package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// TestCassandraRequestIDNotUTF8: a log ordered before the leader checked
// request ids may hold one that is not UTF-8. Cassandra refuses it in the
// record's text column, so recording it as sent stopped every replica at
// that write for good; it is applied, recorded with U+FFFD in place, and
// answered from its record when its ORDER is applied again.
func TestCassandraRequestIDNotUTF8(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := newTestKeyspace(t, ctx, hosts)
	ts := time.Now().UnixMicro()
	orders := []messages.Order{
		{Epoch: 1, Seq: 1, Timestamp: ts, Writes: []messages.Write{{RequestID: "create", Stmt: "CREATE TABLE t (k int PRIMARY KEY, v int)"}}},
		// Alone (a batch of one), then in a group of two.
		{Epoch: 1, Seq: 2, Timestamp: ts + 1000, Writes: []messages.Write{{RequestID: "one\xff", Stmt: "UPDATE t SET v = 1 WHERE k = 1"}}},
		{Epoch: 1, Seq: 3, Timestamp: ts + 2000, Writes: []messages.Write{
			{RequestID: "two\xfe", Stmt: "UPDATE t SET v = 2 WHERE k = 2"},
			{RequestID: "three", Stmt: "UPDATE t SET v = 3 WHERE k = 3"}}},
	}
	for i := range orders {
		outs, err := k.store.Apply(ctx, orders[i:i+1])
		if err != nil {
			t.Fatalf("Apply seq %d: %v; want it applied", orders[i].Seq, err)
		}
		for _, out := range outs[0] {
			if out.Code != messages.CodeOK {
				t.Fatalf("seq %d: outcome %+v, want SUCCESS", orders[i].Seq, out)
			}
		}
	}
	again, st := k.reopen(t, ctx)
	if st.Applied != 3 {
		t.Fatalf("progress after reopening: %+v, want applied 3", st)
	}
	// A replica that applies the ORDERs again is answered from the records:
	// the same SUCCESS, not an outcome lost to a mismatched id.
	outs, err := again.Apply(ctx, orders[1:])
	if err != nil {
		t.Fatal(err)
	}
	for n, o := range outs {
		for i, out := range o {
			if out.Code != messages.CodeOK {
				t.Fatalf("seq %d write %d applied again: %+v, want its recorded SUCCESS", orders[n+1].Seq, i, out)
			}
		}
	}
	var v int
	if err := k.session.Query(`SELECT v FROM t WHERE k = 2`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("row 2: v = %d, %v; want 2", v, err)
	}
}
