package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// A write applied long after the leader timestamped it (a replica
// catching up) gets what is left of its TTL, so its cells expire when the
// other replicas' do; a TTL of 0 stays none. Both the batched and the
// one-write paths.
func TestCassandraCountsTTLsFromTheWriteTimestamp(t *testing.T) {
	ctx := context.Background()
	k := newTestKeyspace(t, ctx, chorustest.CassandraHosts(t))
	k.exec(t, `CREATE TABLE kv (k int PRIMARY KEY, v text, w text)`)
	old := time.Now().Add(-100 * time.Second).UnixMicro()
	orders := []messages.Order{
		{Epoch: 1, Seq: 1, Timestamp: old, Writes: []messages.Write{ // one write: the one-write path
			{RequestID: "r1", Stmt: "INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL 1000", Origin: "s1"}}},
		{Epoch: 1, Seq: 3, Timestamp: old + 10, Writes: []messages.Write{ // a batch of two
			{RequestID: "r2", Stmt: "UPDATE kv USING TTL 1000 SET v = 'b' WHERE k = 2", Origin: "s1"},
			{RequestID: "r3", Stmt: "INSERT INTO kv (k, v, w) VALUES (3, 'c', 'd') USING TTL 0", Origin: "s1"}}},
	}
	if _, err := k.store.Apply(ctx, orders[:1]); err != nil {
		t.Fatal(err)
	}
	orders[1].Seq = 2
	if _, err := k.store.Apply(ctx, orders[1:]); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[int][2]int{1: {895, 900}, 2: {895, 900}, 3: {0, 0}} {
		var ttl *int
		if err := k.session.Query(`SELECT TTL(v) FROM kv WHERE k = ?`, key).Scan(&ttl); err != nil {
			t.Fatal(err)
		}
		got := 0
		if ttl != nil {
			got = *ttl
		}
		if got < want[0] || got > want[1] {
			t.Errorf("row %d: TTL %d, want %d-%d (1000 s from a write 100 s old)", key, got, want[0], want[1])
		}
	}
}
