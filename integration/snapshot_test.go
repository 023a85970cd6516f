package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// snapshotCluster is three workers that snapshot every 100 entries and
// keep 20 behind the newest snapshot when trimming.
func snapshotCluster(t *testing.T) (*chorustest.Cluster, *env) {
	c := chorustest.StartCluster(t, 3, func(cfg *worker.Config) {
		cfg.SnapshotEvery, cfg.LogRetain = 100, 20
	})
	e := newEnvOn(t, c.Conn(), c.Prefix, replicas{IDs: c.IDs, Session: c.Session, Keyspace: c.Keyspace, Worker: c.Worker})
	e.exec("", "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)")
	e.exec("", "CREATE TABLE kv (k int, c int, v text, n bigint, tags set<text>, attrs map<text, int>, PRIMARY KEY (k, c))")
	return c, e
}

// load runs n writes: list appends (each value once) and upserts, some
// with a TTL, some of several cells at other timestamps.
func (e *env) load(n int) {
	e.t.Helper()
	for i := range n {
		switch i % 4 {
		case 0, 1:
			e.update("", i%17)
		case 2:
			e.exec("", fmt.Sprintf("INSERT INTO kv (k, c, v, n, tags) VALUES (%d, %d, 'v%d', %d, {'t%d'}) USING TTL 86400", i%23, i%3, i, i, i%5))
		default:
			e.exec("", fmt.Sprintf("UPDATE kv SET attrs = attrs + {'a%d': %d}, n = %d WHERE k = %d AND c = %d", i%7, i, i, i%23, i%3))
		}
	}
}

func (e *env) status() messages.Status {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.cl.Status(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func workerOf(st messages.Status, id string) (messages.StatusWorker, bool) {
	for _, w := range st.Workers {
		if w.ID == id {
			return w, true
		}
	}
	return messages.StatusWorker{}, false
}

// dump is a keyspace's user tables, cell by cell: every row's values with
// each cell's WRITETIME (per element for collections), rows sorted; and
// each row's TTLs apart (TTLs read a moment apart differ by a second).
func dump(t *testing.T, s *gocql.Session, ks string) (map[string][]string, map[string][]int) {
	t.Helper()
	out, ttls := map[string][]string{}, map[string][]int{}
	for _, table := range []string{"grade", "kv"} {
		cols, keys := columns(t, s, ks, table)
		sel := slices.Clone(keys)
		for _, c := range cols {
			sel = append(sel, c, "WRITETIME("+c+")", "TTL("+c+")")
		}
		iter := s.Query(fmt.Sprintf(`SELECT %s FROM %q.%q`, strings.Join(sel, ", "), ks, table)).Iter()
		for {
			row := map[string]any{}
			if !iter.MapScan(row) {
				break
			}
			var ttl []int
			for _, c := range cols {
				switch x := row["ttl("+c+")"].(type) {
				case int:
					ttl = append(ttl, x)
				case []int:
					ttl = append(ttl, x...)
				}
				delete(row, "ttl("+c+")")
			}
			b, _ := json.Marshal(row)
			out[table] = append(out[table], string(b))
			ttls[table+string(b)] = ttl
		}
		if err := iter.Close(); err != nil {
			t.Fatalf("reading %s.%s: %v", ks, table, err)
		}
		sort.Strings(out[table])
	}
	return out, ttls
}

func columns(t *testing.T, s *gocql.Session, ks, table string) (regular, keys []string) {
	iter := s.Query(`SELECT column_name, kind FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`, ks, table).Iter()
	var name, kind string
	for iter.Scan(&name, &kind) {
		if kind == "regular" || kind == "static" {
			regular = append(regular, name)
		} else {
			keys = append(keys, name)
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(regular)
	sort.Strings(keys)
	return regular, keys
}

func (e *env) requireSameCells(a, b string) {
	e.t.Helper()
	da, ta := dump(e.t, e.c.Session, e.c.Keyspace(a))
	db, tb := dump(e.t, e.c.Session, e.c.Keyspace(b))
	for table := range da {
		if len(da[table]) == 0 {
			e.t.Fatalf("%s.%s is empty: the comparison says nothing", a, table)
		}
		for i := range max(len(da[table]), len(db[table])) {
			var ra, rb string
			if i < len(da[table]) {
				ra = da[table][i]
			}
			if i < len(db[table]) {
				rb = db[table][i]
			}
			if ra != rb {
				e.t.Fatalf("%s and %s differ in %s (row %d of %d and %d):\n%s\n%s", a, b, table, i, len(da[table]), len(db[table]), ra, rb)
			}
			x, y := ta[table+ra], tb[table+rb]
			if len(x) != len(y) {
				e.t.Fatalf("%s and %s: TTLs of %s %s: %v and %v", a, b, table, ra, x, y)
			}
			for k := range x {
				if d := x[k] - y[k]; d < -3 || d > 3 {
					e.t.Fatalf("%s and %s: TTLs of %s %s: %v and %v", a, b, table, ra, x, y)
				}
			}
		}
	}
}

// TestSnapshotsTrimAndRestore: a cluster with a history and a trimmed log
// takes a new worker, which restores the newest snapshot and becomes live
// with the same cells (values, write timestamps, TTLs) as the others; a
// wiped keyspace is rebuilt the same way; a member that is down holds the
// log until it is removed.
func TestSnapshotsTrimAndRestore(t *testing.T) {
	c, e := snapshotCluster(t)
	e.load(600)
	chorustest.Eventually(t, 30*time.Second, func() error {
		if st := e.status(); st.SnapshotSeq == 0 || st.FirstSeq <= 1 {
			return fmt.Errorf("snapshot at %d, log starts at %d", st.SnapshotSeq, st.FirstSeq)
		}
		return nil
	})
	st := e.status()
	t.Logf("log %d..%d, snapshot at %d", st.FirstSeq, st.LastSeq, st.SnapshotSeq)

	// A new worker: the log no longer starts at seq 1, so it must restore.
	start := time.Now()
	c.AddWorker("server3")
	e.c.IDs = append(e.c.IDs, "server3")
	e.waitLive("server3", 60*time.Second)
	t.Logf("server3 joined in %s", time.Since(start).Round(time.Millisecond))
	e.requireSameCells("server0", "server3")
	e.load(40)
	e.requireSameCells("server0", "server3") // and it keeps applying

	// A wiped keyspace is rebuilt from the snapshot and the log.
	c.Stop("server1")
	if err := c.Session.Query(`DROP KEYSPACE "` + c.Keyspace("server1") + `"`).Exec(); err != nil {
		t.Fatal(err)
	}
	e.load(150)
	c.Start("server1")
	e.waitLive("server1", 60*time.Second)
	e.requireSameCells("server0", "server1")

	// A member that is down keeps its entries: the log is not trimmed past
	// what it recorded, however many snapshots come.
	held := c.Worker("server2").Applied() + 1 // its keyspace has recorded at most this far
	c.Stop("server2")
	e.load(300)
	chorustest.Eventually(t, 30*time.Second, func() error {
		if st := e.status(); st.SnapshotSeq < st.LastSeq-150 {
			return fmt.Errorf("snapshot at %d of %d", st.SnapshotSeq, st.LastSeq)
		}
		return nil
	})
	if first := e.status().FirstSeq; first > held {
		t.Fatalf("the log was trimmed to %d past down member server2 (it needs seq %d)", first, held)
	}
	// Removed, it no longer holds the log back.
	if r := e.admin(messages.NewSubjects(c.Prefix).Admin("remove"), "server2"); r.Status != messages.StatusSuccess {
		t.Fatalf("remove: %+v", r)
	}
	e.c.IDs = slices.DeleteFunc(e.c.IDs, func(id string) bool { return id == "server2" })
	e.load(150)
	chorustest.Eventually(t, 30*time.Second, func() error {
		st := e.status()
		if st.FirstSeq <= held {
			return fmt.Errorf("log still starts at %d", st.FirstSeq)
		}
		if w, _ := workerOf(st, "server2"); w.State != messages.StateRemoved {
			return fmt.Errorf("server2 is %q", w.State)
		}
		return nil
	})
	e.requireSameCells("server0", "server3")
}

func (e *env) admin(subject, body string) messages.Reply {
	e.t.Helper()
	m, err := e.nc.Request(subject, []byte(body), 2*time.Minute)
	if err != nil {
		e.t.Fatalf("%s: %v", subject, err)
	}
	var r messages.Reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		e.t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
	return r
}
