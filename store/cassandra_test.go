package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// TestCassandraReapplyReturnsRecordedOutcomes: an ORDER applied again (a
// retry after a failed Apply, here by a second store on the keyspace) is
// answered from the request records, the statement's own error included,
// and a write whose record is gone is reported as applied with its
// outcome lost, not as a success.
func TestCassandraReapplyReturnsRecordedOutcomes(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	ks := "store_test_" + hex.EncodeToString(tag)
	cfg := store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 20 * time.Second, DedupWindow: time.Hour, MaxRows: 10}
	first, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = cfg.Timeout
	direct, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := direct.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			t.Errorf("dropping test keyspace %s: %v (drop it by hand)", ks, err)
		}
		direct.Close()
	}()

	o := messages.Order{Epoch: 1, Seq: 1, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{
		{RequestID: "create", Stmt: "CREATE TABLE grade (id int PRIMARY KEY, v int)"},
		{RequestID: "ok", Stmt: "INSERT INTO grade (id, v) VALUES (1, 2)"},
		{RequestID: "bad", Stmt: "INSERT INTO grade (id, nope) VALUES (1, 2)"},
	}}
	want, err := first.Apply(ctx, []messages.Order{o})
	if err != nil {
		t.Fatal(err)
	}
	if want[0][1].Code != messages.CodeOK || want[0][2].Code != messages.CodeCQL {
		t.Fatalf("first Apply: outcomes %+v; want OK for the insert and CQL for the bad column", want[0])
	}

	second, st, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if st.Applied != 1 || st.Epoch != 1 || st.Partial != 0 {
		t.Fatalf("state after seq 1 = %+v; want applied 1, epoch 1", st)
	}
	got, err := second.Apply(ctx, []messages.Order{o})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply of applied seq 1 = %+v, %v; want the recorded %+v", got, err, want)
	}

	// The change feed's reading of one record.
	if out, ok, err := second.Outcome(ctx, "bad", 1, 2); err != nil || !ok || out != want[0][2] {
		t.Fatalf("Outcome(bad) = %+v %v %v; want the recorded %+v", out, ok, err, want[0][2])
	}
	if _, ok, err := second.Outcome(ctx, "ok", 1, 2); ok || err != nil {
		t.Fatalf("Outcome of id ok at another write's position: %v %v; want none", ok, err)
	}
	if err := direct.Query(`DELETE FROM ` + ks + `.chorus_outcomes WHERE bucket = 0 AND seq = 1 AND idx = 1`).WithContext(ctx).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := second.Outcome(ctx, "ok", 1, 1); ok || err != nil {
		t.Fatalf("Outcome of a deleted record: %v %v; want none", ok, err)
	}
	got, err = second.Apply(ctx, []messages.Order{o})
	if err != nil {
		t.Fatal(err)
	}
	if w := got[0][1]; w.Code != messages.CodeInternal || w.Seq != 1 || w.Index != 1 {
		t.Fatalf("write with its record deleted: outcome %+v; want CodeInternal (outcome lost), not a success", w)
	}
	if got[0][0] != want[0][0] || got[0][2] != want[0][2] {
		t.Fatalf("other writes: outcomes %+v; want the recorded %+v", got[0], want[0])
	}
	var n int
	if err := direct.Query(`SELECT count(*) FROM ` + ks + `.grade`).WithContext(ctx).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in grade = %d, %v; want 1 (nothing applied twice)", n, err)
	}
}
