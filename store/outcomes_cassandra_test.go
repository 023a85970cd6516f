package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// TestCassandraMovesRecordsOfAnOlderKeyspace: a keyspace whose records
// are still in chorus_requests (one partition per request id, as before
// chorus_outcomes) has them moved, timestamps and TTLs kept, when a store
// opens it; the old table is dropped, and an ORDER applied again still
// gets its recorded outcomes rather than "outcome lost".
func TestCassandraMovesRecordsOfAnOlderKeyspace(t *testing.T) {
	chorustest.RequireIntegration(t)
	ctx := context.Background()
	hosts := chorustest.CassandraHosts(t)
	k := newTestKeyspace(t, ctx, hosts)
	k.exec(t, `CREATE TABLE grade (id int PRIMARY KEY, v int)`)
	o := messages.Order{Epoch: 1, Seq: 300, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{
		{RequestID: "ok", Stmt: "INSERT INTO grade (id, v) VALUES (1, 2)"},
		{RequestID: "bad", Stmt: "INSERT INTO grade (id, nope) VALUES (1, 2)"},
	}}
	want, err := k.store.Apply(ctx, []messages.Order{o})
	if err != nil {
		t.Fatal(err)
	}
	if want[0][0].Code != messages.CodeOK || want[0][1].Code != messages.CodeCQL {
		t.Fatalf("outcomes %+v; want OK, then CQL for the bad column", want[0])
	}

	// Turn the keyspace into one of the older layout.
	type cell struct {
		id, msg   string
		seq, ts   int64
		idx, code int
		ttl       int
	}
	var cells []cell
	iter := k.session.Query(`SELECT id, seq, idx, code, error, WRITETIME(id), TTL(id) FROM chorus_outcomes`).Iter()
	var c cell
	for iter.Scan(&c.id, &c.seq, &c.idx, &c.code, &c.msg, &c.ts, &c.ttl) {
		cells = append(cells, c)
	}
	if err := iter.Close(); err != nil || len(cells) != 2 {
		t.Fatalf("records: %+v, %v; want 2", cells, err)
	}
	k.exec(t, `CREATE TABLE chorus_requests (id text PRIMARY KEY, seq bigint, idx int, code int, error text)`, `TRUNCATE chorus_outcomes`)
	for _, c := range cells {
		if err := k.session.Query(`INSERT INTO chorus_requests (id, seq, idx, code, error) VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`,
			c.id, c.seq, c.idx, c.code, c.msg, c.ttl, c.ts).Exec(); err != nil {
			t.Fatal(err)
		}
	}

	reopened, _ := k.reopen(t, ctx)
	var name string
	err = k.session.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'chorus_requests'`, k.name).Scan(&name)
	if err != gocql.ErrNotFound {
		t.Errorf("chorus_requests after the move: %q, %v; want it dropped", name, err)
	}
	for _, c := range cells {
		var ts int64
		var ttl int
		if err := k.session.Query(`SELECT WRITETIME(id), TTL(id) FROM chorus_outcomes WHERE bucket = ? AND seq = ? AND idx = ?`, c.seq>>8, c.seq, c.idx).Scan(&ts, &ttl); err != nil {
			t.Fatalf("record of %s after the move: %v", c.id, err)
		}
		if ts != c.ts || ttl > c.ttl || ttl < c.ttl-60 {
			t.Errorf("record of %s: write time %d, TTL %d; want %d and about %d", c.id, ts, ttl, c.ts, c.ttl)
		}
	}
	reqs, err := reopened.Requests(ctx)
	if err != nil || len(reqs) != 2 || reqs[0].ID != "ok" || reqs[1].ID != "bad" || reqs[1].Outcome != want[0][1] {
		t.Fatalf("Requests after the move = %+v, %v; want ok then bad with its outcome %+v", reqs, err, want[0][1])
	}
	got, err := reopened.Apply(ctx, []messages.Order{o})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply of the applied ORDER after the move = %+v, %v; want the recorded %+v", got, err, want)
	}
}
