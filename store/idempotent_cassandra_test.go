package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// TestCassandraIdempotentWrites: writes that store the same cells however
// often they run skip the logged batch, and only those: a list or a
// counter column, a condition, an explicit timestamp or a table the store
// has not seen keep the atomic path; a schema change is seen at once. A
// mixed ORDER applies every write once.
func TestCassandraIdempotentWrites(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	ks := "store_idem_" + hex.EncodeToString(tag)
	cfg := store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 20 * time.Second, DedupWindow: time.Hour, MaxRows: 100}
	s, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	direct, err := gocql.NewCluster(hosts...).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := direct.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			t.Errorf("dropping test keyspace %s: %v (drop it by hand)", ks, err)
		}
		direct.Close()
	}()
	ts := time.Now().UnixMicro()
	seq := uint64(0)
	apply := func(stmts ...string) []messages.Outcome {
		t.Helper()
		seq++
		o := messages.Order{Epoch: 1, Seq: seq, Timestamp: ts + int64(seq)*1000}
		for i, st := range stmts {
			o.Writes = append(o.Writes, messages.Write{RequestID: hex.EncodeToString([]byte{byte(seq), byte(i)}), Stmt: st})
		}
		outs, err := s.Apply(ctx, []messages.Order{o})
		if err != nil {
			t.Fatalf("Apply seq %d: %v", seq, err)
		}
		for i, out := range outs[0] {
			if out.Code != messages.CodeOK {
				t.Fatalf("seq %d write %d (%s): %+v", seq, i, stmts[i], out)
			}
		}
		return outs[0]
	}
	apply("CREATE TABLE kv (id int PRIMARY KEY, v text, s set<int>, m map<int,int>, f frozen<list<int>>)",
		"CREATE TABLE ev (id int PRIMARY KEY, l list<int>)",
		"CREATE TABLE hits (id int PRIMARY KEY, n counter)")
	for stmt, want := range map[string]bool{
		"INSERT INTO kv (id, v) VALUES (1, 'a')":                    true,
		"UPDATE kv SET v = 'b', s = s + {1}, m[1] = 2 WHERE id = 2": true,
		"UPDATE kv SET f = [1, 2] WHERE id = 2":                     true, // a frozen list is one cell
		"DELETE FROM kv WHERE id = 3":                               true,
		"UPDATE ev SET l = l + [1] WHERE id = 1":                    false,
		"INSERT INTO ev (id, l) VALUES (1, [1])":                    false,
		"DELETE FROM ev WHERE id = 1":                               false, // the table has a list: kept on the safe side
		"UPDATE hits SET n = n + 1 WHERE id = 1":                    false,
		"INSERT INTO kv (id, v) VALUES (1, 'a') IF NOT EXISTS":      false,
		"INSERT INTO kv (id, v) VALUES (1, 'a') USING TIMESTAMP 5":  false,
		"INSERT INTO nope (id) VALUES (1)":                          false,
	} {
		if got, err := s.Idempotent(ctx, stmt); err != nil || got != want {
			t.Errorf("%s: idempotent %v (%v), want %v", stmt, got, err, want)
		}
	}
	// A list added to kv: its writes keep the logged batch from then on.
	apply("ALTER TABLE kv ADD l list<int>")
	if got, _ := s.Idempotent(ctx, "INSERT INTO kv (id, v) VALUES (1, 'a')"); got {
		t.Error("kv has a list column now, but its INSERT is still taken as idempotent")
	}
	apply("CREATE TABLE plain (id int PRIMARY KEY, v int)")
	apply("INSERT INTO plain (id, v) VALUES (1, 1)", "UPDATE ev SET l = l + [7] WHERE id = 1",
		"UPDATE plain SET v = 2 WHERE id = 2", "DELETE FROM plain WHERE id = 1", "UPDATE ev SET l = l + [8] WHERE id = 1")
	var l []int
	if err := direct.Query(`SELECT l FROM ` + ks + `.ev WHERE id = 1`).Scan(&l); err != nil || len(l) != 2 || l[0] != 7 || l[1] != 8 {
		t.Fatalf("ev list: %v, %v; want [7 8]", l, err)
	}
	var n int
	if err := direct.Query(`SELECT count(*) FROM ` + ks + `.plain`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in plain: %d, %v; want 1 (row 1 deleted, row 2 written)", n, err)
	}
	st, err := s.Requests(ctx)
	if err != nil || len(st) < 5 {
		t.Fatalf("request records: %d, %v; want every write's", len(st), err)
	}
	reopened, state, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	reopened.Close()
	if state.Applied != seq || state.Partial != 0 {
		t.Fatalf("progress after the mixed ORDER: %+v; want applied %d", state, seq)
	}
}
