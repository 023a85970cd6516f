package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// testKeyspace is a keyspace of its own for one test, opened as a store
// and through a plain session in it; both are dropped at the end.
type testKeyspace struct {
	name    string
	cfg     store.Config
	store   *store.Cassandra
	session *gocql.Session
}

func newTestKeyspace(t *testing.T, ctx context.Context, hosts []string) *testKeyspace {
	t.Helper()
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	ks := "snap_test_" + hex.EncodeToString(tag)
	cfg := store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 30 * time.Second, DedupWindow: time.Hour, MaxRows: 100000}
	c, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = cfg.Timeout
	cluster.Keyspace = ks
	s, err := cluster.CreateSession()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if err := s.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec(); err != nil {
			t.Errorf("dropping test keyspace %s: %v (drop it by hand)", ks, err)
		}
		s.Close()
	})
	return &testKeyspace{name: ks, cfg: cfg, store: c, session: s}
}

// reopen opens the keyspace again as a store of its own, as a restarted
// worker does; it is closed at the end of the test.
func (k *testKeyspace) reopen(t *testing.T, ctx context.Context) (*store.Cassandra, store.State) {
	t.Helper()
	c, st, err := store.OpenCassandra(ctx, k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, st
}

func (k *testKeyspace) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if err := k.session.Query(q).Exec(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// The tables of the round trip test, and what to compare of each: every
// column with its write time and TTL (non-frozen UDTs field by field).
var snapshotChecks = map[string]string{
	"Every": `SELECT id, "Ck", st, WRITETIME(st), TTL(st), t, WRITETIME(t), TTL(t), bi, WRITETIME(bi), TTL(bi),
		bo, WRITETIME(bo), d, WRITETIME(d), TTL(d), u, WRITETIME(u), tu, WRITETIME(tu), ts, WRITETIME(ts), b, WRITETIME(b),
		de, WRITETIME(de), vi, WRITETIME(vi), ip, WRITETIME(ip), da, WRITETIME(da), ti, WRITETIME(ti), du, WRITETIME(du),
		l, WRITETIME(l), TTL(l), s, WRITETIME(s), TTL(s), m, WRITETIME(m), TTL(m), fa, WRITETIME(fa), TTL(fa),
		na, na.street, WRITETIME(na.street), TTL(na.street), na."Zip", WRITETIME(na."Zip"), TTL(na."Zip"),
		tup, WRITETIME(tup), fl, WRITETIME(fl), "Quoted col", WRITETIME("Quoted col") FROM "Every"`,
	"counts": `SELECT id, n, k FROM counts`,
	"tuples": `SELECT k, c, sset, WRITETIME(sset), TTL(sset), v, WRITETIME(v), TTL(v), u.p, WRITETIME(u.p), TTL(u.p),
		u.q, WRITETIME(u.q), TTL(u.q) FROM tuples`,
	"deflt":           `SELECT id, v, WRITETIME(v), TTL(v), w, WRITETIME(w), TTL(w) FROM deflt`,
	"keyonly":         `SELECT a, b FROM keyonly`,
	"many":            `SELECT id, v, WRITETIME(v), TTL(v), l, WRITETIME(l), TTL(l) FROM many`,
	"chorus_outcomes": `SELECT bucket, seq, idx, id, code, error, WRITETIME(id), TTL(id), WRITETIME(error), TTL(error) FROM chorus_outcomes`,
	"chorus_state":    `SELECT id, applied, epoch, partial, WRITETIME(applied) FROM chorus_state`,
	"chorus_members":  `SELECT id, gen, removed, seq, WRITETIME(gen) FROM chorus_members`,
}

// rowsOf reads a check query's rows as the driver decodes them, sorted.
func rowsOf(t *testing.T, s *gocql.Session, q string) []map[string]any {
	t.Helper()
	iter := s.Query(q).PageSize(500).Iter()
	var out []map[string]any
	for {
		m := map[string]any{}
		if !iter.MapScan(m) {
			break
		}
		out = append(out, m)
	}
	if err := iter.Close(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// sameRows compares rows column by column; TTLs may differ by a few
// seconds (the time between the two reads).
func sameRows(t *testing.T, table string, got, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows restored; the source has %d", table, len(got), len(want))
	}
	for i := range want {
		for col, w := range want[i] {
			g, ok := got[i][col]
			if !ok {
				t.Fatalf("%s row %d: column %s missing", table, i, col)
			}
			if strings.HasPrefix(col, "ttl(") {
				if !closeTTL(g, w) {
					t.Errorf("%s row %d (%v): %s = %v; the source has %v", table, i, want[i]["id"], col, g, w)
				}
				continue
			}
			if f, ok := w.(float64); ok && math.IsNaN(f) {
				if gf, ok := g.(float64); ok && math.IsNaN(gf) {
					continue
				}
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s row %d (%v): %s = %#v; the source has %#v", table, i, want[i]["id"], col, g, w)
			}
		}
	}
}

func closeTTL(g, w any) bool {
	// The two reads are seconds apart, and an expiry is kept to the second.
	near := func(a, b int) bool { return a-b <= 5 && b-a <= 5 }
	switch w := w.(type) {
	case int:
		return near(g.(int), w)
	case []int:
		g := g.([]int)
		if len(g) != len(w) {
			return false
		}
		for i := range w {
			if !near(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(g, w)
}

// TestCassandraSnapshotRoundTrip: a keyspace exported and imported into an
// empty one is equal to it column by column, write times and TTLs
// included, and exports to the same data.
func TestCassandraSnapshotRoundTrip(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a := newTestKeyspace(t, ctx, hosts)
	a.exec(t,
		`CREATE TYPE addr (street text, "Zip" int)`,
		`CREATE TYPE "Outer" (inner frozen<addr>, tags frozen<set<text>>)`,
		`CREATE TABLE "Every" (id int, "Ck" text, st text static, t text, bi bigint, bo boolean, d double, u uuid, tu timeuuid,
			ts timestamp, b blob, de decimal, vi varint, ip inet, da date, ti time, du duration,
			l list<int>, s set<text>, m map<text, int>, fa frozen<addr>, na addr, tup frozen<tuple<int, text>>,
			fl frozen<list<frozen<"Outer">>>, "Quoted col" int,
			PRIMARY KEY (id, "Ck")) WITH CLUSTERING ORDER BY ("Ck" DESC) AND comment = 'all the types'`,
		`CREATE INDEX every_t ON "Every" (t)`,
		`CREATE INDEX ON "Every" (values(m))`,
		`CREATE TABLE counts (id int PRIMARY KEY, n counter, k counter)`,
		`CREATE TYPE pair (p frozen<tuple<int, frozen<tuple<text, int>>>>, q int)`,
		`CREATE TABLE tuples (k frozen<tuple<int, text>>, c frozen<tuple<int, frozen<tuple<text, int>>>>, sset set<int> static,
			v frozen<tuple<int, frozen<tuple<int, int>>>>, u pair, PRIMARY KEY (k, c))`,
		`CREATE TABLE keyonly (a int, b int, PRIMARY KEY (a, b))`,
		`CREATE TABLE deflt (id int PRIMARY KEY, v int, w int) WITH default_time_to_live = 1000`,
		`CREATE TABLE vecs (id int PRIMARY KEY, v vector<float, 3>)`,
		`CREATE TABLE many (id int PRIMARY KEY, v text, l list<int>) WITH default_time_to_live = 0`,
	)
	a.exec(t,
		`INSERT INTO "Every" (id, "Ck", t, bi, bo, d, u, tu, ts, b, de, vi, ip, da, ti, du, fa, tup, fl, "Quoted col")
			VALUES (1, 'a', 'text é', 9223372036854775807, true, 3.25, 5b6962dd-3f90-4c93-8f61-eabfa4a803e2,
			50554d6e-29bb-11e5-b345-feff819cdc9f, '2026-01-02 03:04:05.678+0000', 0xcafe, 123456789.000000001,
			-123456789012345678901234567890, '2001:db8::1', '2026-12-01', '13:14:15.123456789', 1y2mo3d4h5m6s7ms8us9ns,
			{street: 'Main', "Zip": 12345}, (7, 'seven'), [{inner: {street: 'x', "Zip": 1}, tags: {'p', 'q'}}], -1)
			USING TIMESTAMP 1000000`,
		`UPDATE "Every" USING TIMESTAMP 2000000 SET bi = 5 WHERE id = 1 AND "Ck" = 'a'`,
		`UPDATE "Every" USING TTL 3600 SET d = 1.5 WHERE id = 1 AND "Ck" = 'a'`,
		`UPDATE "Every" USING TIMESTAMP 3000000 SET st = 'static one' WHERE id = 1`,
		`UPDATE "Every" USING TIMESTAMP 4000000 SET na.street = 'Side' WHERE id = 1 AND "Ck" = 'a'`,
		`UPDATE "Every" USING TIMESTAMP 4000001 AND TTL 7200 SET na."Zip" = 99 WHERE id = 1 AND "Ck" = 'a'`,
		`UPDATE "Every" USING TIMESTAMP 5000000 SET s = s + {'x'}, m = m + {'k1': 1} WHERE id = 1 AND "Ck" = 'a'`,
		`UPDATE "Every" USING TIMESTAMP 5000001 AND TTL 1800 SET s = s + {'y', 'z'}, m = m + {'k2': 2} WHERE id = 1 AND "Ck" = 'a'`,
		// A row of empty values (not null) and a second row of the partition.
		`INSERT INTO "Every" (id, "Ck", t, b, vi) VALUES (1, '', '', 0x, 0) USING TIMESTAMP 6000000`,
		// A key-only row, a static-only partition, NaN.
		`INSERT INTO "Every" (id, "Ck") VALUES (2, 'key only')`,
		`UPDATE "Every" USING TTL 900 SET st = 'static alone' WHERE id = 3`,
		`INSERT INTO "Every" (id, "Ck", d) VALUES (4, 'nan', NaN)`,
		`UPDATE counts SET n = n + 5, k = k - 2 WHERE id = 1`,
		`UPDATE counts SET n = n + 1 WHERE id = 2`,
		`INSERT INTO keyonly (a, b) VALUES (1, 1)`,
		`INSERT INTO keyonly (a, b) VALUES (1, 2)`,
		`INSERT INTO deflt (id, v) VALUES (1, 1)`,
		`INSERT INTO vecs (id, v) VALUES (1, [1.5, -2, 3.25]) USING TIMESTAMP 12345`,
		`UPDATE deflt USING TTL 0 SET w = 2 WHERE id = 1`,
		`INSERT INTO tuples (k, c, v) VALUES ((1, 'one'), (2, ('two', 2)), (3, (4, 5))) USING TIMESTAMP 9000000 AND TTL 4000`,
		`INSERT INTO tuples (k, c, v) VALUES ((1, 'one'), (3, (null, 3)), (null, null)) USING TIMESTAMP 9000001`,
		`INSERT INTO tuples (k, c) VALUES ((null, ''), (4, null))`,
		`UPDATE tuples USING TIMESTAMP 9000002 SET u.p = (5, ('five', 5)), sset = sset + {1, 2} WHERE k = (1, 'one') AND c = (2, ('two', 2))`,
		`UPDATE tuples USING TIMESTAMP 9000003 AND TTL 600 SET u.q = 6, sset = sset + {3} WHERE k = (1, 'one') AND c = (3, (null, 3))`,
	)
	// List elements appended one by one, each at its own timestamp (and a
	// prepend), so that order and per-element write times matter.
	for i := range 5 {
		a.exec(t, fmt.Sprintf(`UPDATE "Every" USING TIMESTAMP %d SET l = l + [%d] WHERE id = 1 AND "Ck" = 'a'`, 7000000+10*i, 10+i))
	}
	a.exec(t, `UPDATE "Every" USING TIMESTAMP 6999999 AND TTL 3000 SET l = [1] + l WHERE id = 1 AND "Ck" = 'a'`)
	// Enough rows for several pages and progress reports.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2500; i += 8 {
				err := a.session.Query(`UPDATE many USING TIMESTAMP ? SET v = ?, l = l + ? WHERE id = ?`, int64(8000000+i), fmt.Sprint("v", i), []int{i, i + 1}, i).Exec()
				if err == nil && i%7 == 0 {
					err = a.session.Query(`UPDATE many USING TTL 5000 SET l = l + [0] WHERE id = ?`, i).Exec()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// Writes through Chorus: a progress record and request records.
	o := messages.Order{Epoch: 3, Seq: 1, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{
		{RequestID: "r1", Stmt: `INSERT INTO keyonly (a, b) VALUES (2, 1)`},
		{RequestID: "r2", Stmt: `INSERT INTO keyonly (a, nope) VALUES (2, 1)`},
	}}
	member := messages.Order{Epoch: 3, Seq: 2, Kind: messages.OrderMember, Timestamp: o.Timestamp + 10,
		Member: &messages.MemberChange{Op: messages.MemberAdd, ID: "server1", Gen: "g1"}}
	if _, err := a.store.Apply(ctx, []messages.Order{o, member}); err != nil {
		t.Fatal(err)
	}

	var snap bytes.Buffer
	start := time.Now()
	stats, err := a.store.Export(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("export: %+v in %s", stats, time.Since(start))
	if stats.Tables != 7 || stats.Requests != 2 || stats.Members != 1 || stats.Bytes != int64(snap.Len()) {
		t.Fatalf("export stats %+v (%d bytes); want 7 tables, 2 request records", stats, snap.Len())
	}

	b := newTestKeyspace(t, ctx, hosts)
	var reports []store.RestoreProgress
	start = time.Now()
	st, err := b.store.Import(ctx, bytes.NewReader(snap.Bytes()), func(p store.RestoreProgress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import: %s, progress %+v", time.Since(start), reports)
	if st.Applied != 2 || st.Epoch != 3 || st.Partial != 0 {
		t.Fatalf("Import = %+v; want applied 2, epoch 3", st)
	}
	if len(reports) < 2 || reports[len(reports)-1] != (store.RestoreProgress{Bytes: int64(snap.Len()), Rows: stats.Rows}) {
		t.Fatalf("progress reports %+v; want some, and the totals (%d bytes, %d rows) last", reports, snap.Len(), stats.Rows)
	}
	for table, q := range snapshotChecks {
		sameRows(t, table, rowsOf(t, b.session, q), rowsOf(t, a.session, q))
	}
	// A vector (which the driver does not decode) as bytes.
	for _, k := range []*testKeyspace{a, b} {
		var v rawBytes
		var wt int64
		if err := k.session.Query(`SELECT v, WRITETIME(v) FROM vecs WHERE id = 1`).Scan(&v, &wt); err != nil {
			t.Fatal(err)
		}
		if want := "3fc00000c000000040500000"; hex.EncodeToString(v) != want || wt != 12345 {
			t.Fatalf("vector in %s = %x at %d; want %s at 12345", k.name, []byte(v), wt, want)
		}
	}
	// The list order and write times, explicitly.
	var l []int
	var wt []int64
	if err := b.session.Query(`SELECT l, WRITETIME(l) FROM "Every" WHERE id = 1 AND "Ck" = 'a'`).Scan(&l, &wt); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l, []int{1, 10, 11, 12, 13, 14}) || !slices.Equal(wt, []int64{6999999, 7000000, 7000010, 7000020, 7000030, 7000040}) {
		t.Fatalf("restored list %v written at %v; want [1 10 11 12 13 14] at 6999999, 7000000, ...", l, wt)
	}
	// The schema is the same, in the other keyspace.
	if got, want := describe(t, b), describe(t, a); !slices.Equal(got, want) {
		t.Fatalf("schema after Import:\n%s\nsource:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Exported again, the restored keyspace gives the same data.
	var again bytes.Buffer
	if _, err := b.store.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	ha, la, ea, err := store.SnapshotDump(snap.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	hb, lb, eb, err := store.SnapshotDump(again.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if ha["keyspace"] != a.name || hb["keyspace"] != b.name || ha["applied"] != hb["applied"] || ha["epoch"] != hb["epoch"] {
		t.Fatalf("headers: %v and %v", ha, hb)
	}
	if !slices.Equal(la, lb) {
		for i := range min(len(la), len(lb)) {
			if la[i] != lb[i] {
				t.Fatalf("record %d differs on re-export:\n%s\nsource:\n%s", i, lb[i], la[i])
			}
		}
		t.Fatalf("re-export has %d records; the source's %d", len(lb), len(la))
	}
	for i := range ea {
		if d := ea[i] - eb[i]; d < -3 || d > 3 {
			t.Fatalf("expiry %d: %d on re-export, %d in the source", i, eb[i], ea[i])
		}
	}

	// A store reopened on the restored keyspace reads the restored state and
	// continues the log; the request records answer a retried ORDER.
	reopened, st2, err := store.OpenCassandra(ctx, store.Config{Hosts: hosts, Keyspace: b.name, ReplicationFactor: 1, Timeout: 30 * time.Second, DedupWindow: time.Hour, MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if st2.TS == 0 {
		t.Fatalf("state read after Import has no progress timestamp: %+v", st2)
	}
	if st2.TS = 0; st2 != st {
		t.Fatalf("state read after Import = %+v; want %+v", st2, st)
	}
	outs, err := reopened.Apply(ctx, []messages.Order{o})
	if err != nil || outs[0][0].Code != messages.CodeOK || outs[0][1].Code != messages.CodeCQL {
		t.Fatalf("seq 1 applied again after Import: %+v, %v; want the recorded outcomes (OK, CQL error)", outs, err)
	}
	next := messages.Order{Epoch: 3, Seq: 3, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{{RequestID: "r3", Stmt: `DELETE FROM keyonly WHERE a = 1 AND b = 1`}}}
	if _, err := reopened.Apply(ctx, []messages.Order{next}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.session.Query(`SELECT count(*) FROM keyonly WHERE a = 1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("key-only rows of partition 1 after a DELETE of one = %d, %v; want 1 (the restored row marker is below the log's timestamps)", n, err)
	}

}

// describe is the keyspace's schema without its name.
func describe(t *testing.T, k *testKeyspace) []string {
	t.Helper()
	iter := k.session.Query(`DESCRIBE KEYSPACE ` + k.name).Iter()
	var out []string
	var ks, typ, name, stmt string
	for iter.Scan(&ks, &typ, &name, &stmt) {
		if typ != "keyspace" {
			out = append(out, strings.ReplaceAll(stmt, k.name+".", ""))
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCassandraImportRefusals: Import refuses a keyspace that is not
// empty, naming its tables, and a truncated stream, leaving no progress
// record (a half-restored keyspace shows as tables without progress).
// Export refuses a keyspace in the middle of an ORDER.
func TestCassandraImportRefusals(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := newTestKeyspace(t, ctx, hosts)
	a.exec(t, `CREATE TABLE grade (id int PRIMARY KEY, v int)`, `CREATE TABLE other (id int PRIMARY KEY)`)
	for i := range 50 {
		a.exec(t, fmt.Sprintf(`INSERT INTO grade (id, v) VALUES (%d, %d)`, i, i))
	}
	o := messages.Order{Epoch: 1, Seq: 1, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{{RequestID: "r", Stmt: `INSERT INTO other (id) VALUES (1)`}}}
	if _, err := a.store.Apply(ctx, []messages.Order{o}); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := a.store.Export(ctx, &snap); err != nil {
		t.Fatal(err)
	}

	_, err := a.store.Import(ctx, bytes.NewReader(snap.Bytes()), nil)
	if !errors.Is(err, store.ErrNotEmpty) || !strings.Contains(err.Error(), "grade, other") {
		t.Fatalf("Import into a keyspace with tables: %v; want ErrNotEmpty naming grade, other", err)
	}

	for _, cut := range []int{snap.Len() / 2, snap.Len() - 3} {
		b := newTestKeyspace(t, ctx, hosts)
		_, err := b.store.Import(ctx, bytes.NewReader(snap.Bytes()[:cut]), nil)
		if !errors.Is(err, store.ErrSnapshotTruncated) {
			t.Fatalf("Import of %d of %d bytes: %v; want ErrSnapshotTruncated", cut, snap.Len(), err)
		}
		var applied int64
		if err := b.session.Query(`SELECT applied FROM chorus_state WHERE id = 0`).Scan(&applied); !errors.Is(err, gocql.ErrNotFound) {
			t.Fatalf("after a truncated Import, the progress record reads %d, %v; want none", applied, err)
		}
		tables, err := b.store.UserTables(ctx)
		if err != nil || !slices.Equal(tables, []string{"grade", "other"}) {
			t.Fatalf("UserTables of a half-restored keyspace = %v, %v; want [grade other]", tables, err)
		}
		if _, err := b.store.Import(ctx, bytes.NewReader(snap.Bytes()), nil); !errors.Is(err, store.ErrNotEmpty) {
			t.Fatalf("Import into a half-restored keyspace: %v; want ErrNotEmpty", err)
		}
		// Emptied, it takes the snapshot.
		if _, err := b.store.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if st, err := b.store.Import(ctx, bytes.NewReader(snap.Bytes()), nil); err != nil || st.Applied != 1 || st.Epoch != 1 {
			t.Fatalf("Import after Reset = %+v, %v; want applied 1, epoch 1", st, err)
		}
	}

	if err := a.session.Query(`UPDATE chorus_state USING TIMESTAMP ? SET partial = 1 WHERE id = 0`, time.Now().UnixMicro()).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Export(ctx, &bytes.Buffer{}); !errors.Is(err, store.ErrSnapshotPartial) {
		t.Fatalf("Export mid-ORDER: %v; want ErrSnapshotPartial", err)
	}
}

// TestCassandraSnapshotMeasure logs the time and size of a snapshot of
// 10,000 rows, each with a text and a list of 10 ints (written by one
// INSERT, so the list's elements share a timestamp), exported and
// imported on the test's Cassandra.
func TestCassandraSnapshotMeasure(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const rows = 10000
	a := newTestKeyspace(t, ctx, hosts)
	a.exec(t, `CREATE TABLE bench (id int PRIMARY KEY, t text, l list<int>)`)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < rows; i += 16 {
				l := make([]int, 10)
				for j := range l {
					l[j] = i*10 + j
				}
				if err := a.session.Query(`INSERT INTO bench (id, t, l) VALUES (?, ?, ?)`, i, fmt.Sprintf("row %d of the benchmark", i), l).Exec(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)

	var snap bytes.Buffer
	start = time.Now()
	stats, err := a.store.Export(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	export := time.Since(start)
	b := newTestKeyspace(t, ctx, hosts)
	start = time.Now()
	if _, err := b.store.Import(ctx, bytes.NewReader(snap.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	imp := time.Since(start)
	var n int
	if err := b.session.Query(`SELECT count(*) FROM bench`).Scan(&n); err != nil || n != rows {
		t.Fatalf("rows after Import = %d, %v; want %d", n, err, rows)
	}
	t.Logf("%d rows (text + list of 10 ints): loaded by 16 writers in %s; export %s (%.0f rows/s), %d bytes (%.0f bytes/row), %d cells; import %s (%.0f rows/s)",
		rows, load.Round(time.Millisecond), export.Round(time.Millisecond), rows/export.Seconds(), stats.Bytes, float64(stats.Bytes)/rows, stats.Cells,
		imp.Round(time.Millisecond), rows/imp.Seconds())

	// The worst case for lists: every element appended at its own
	// timestamp, so each is restored by its own statement.
	const slow = 2000
	c := newTestKeyspace(t, ctx, hosts)
	c.exec(t, `CREATE TABLE bench (id int PRIMARY KEY, t text, l list<int>)`)
	wg = sync.WaitGroup{}
	errs = make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < slow; i += 16 {
				err := c.session.Query(`UPDATE bench SET t = ? WHERE id = ?`, fmt.Sprintf("row %d of the benchmark", i), i).Exec()
				for j := 0; j < 10 && err == nil; j++ {
					err = c.session.Query(`UPDATE bench USING TIMESTAMP ? SET l = l + ? WHERE id = ?`, int64(1000+j), []int{i*10 + j}, i).Exec()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	snap.Reset()
	start = time.Now()
	stats, err = c.store.Export(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	export = time.Since(start)
	d := newTestKeyspace(t, ctx, hosts)
	start = time.Now()
	if _, err := d.store.Import(ctx, bytes.NewReader(snap.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	imp = time.Since(start)
	t.Logf("%d rows, list elements each at its own timestamp: export %s, %d bytes (%.0f bytes/row); import %s (%.0f rows/s)",
		slow, export.Round(time.Millisecond), stats.Bytes, float64(stats.Bytes)/slow, imp.Round(time.Millisecond), slow/imp.Seconds())
}

// rawBytes scans any value as its bytes.
type rawBytes []byte

func (r *rawBytes) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	*r = append((*r)[:0], data...)
	return nil
}
