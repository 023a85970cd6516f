package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// BenchmarkApplyPaths measures, side by side on the real Cassandra, what
// one replica pays per write: a plain write as a client would send it (the
// bench's direct baseline), the same write with Chorus's exactly-once
// record in a logged batch (Chorus's per-write path), and Chorus's grouped
// path (32 writes of one run in one logged batch). Run with
//
//	go test -run '^$' -bench ApplyPaths -benchtime 3s ./store/
//
// ns/op is per write; compare the three in one run. With
// CHORUS_BENCH_CASSANDRA_PID set to the local Cassandra's pid (make up
// writes it to .data/cassandra.pid), each also reports cass-µs/write, the
// CPU Cassandra spent per write: on a machine Cassandra shares, that and
// not the wall time says what a path costs.
func BenchmarkApplyPaths(b *testing.B) {
	chorustest.RequireIntegration(b)
	hosts := chorustest.CassandraHosts(b)
	ctx := context.Background()
	ks := fmt.Sprintf("bench_apply_%d", time.Now().UnixNano()%1e6)
	c, _, err := store.OpenCassandra(ctx, store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 10 * time.Second, DedupWindow: time.Hour, MaxRows: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cluster := gocql.NewCluster(hosts...)
	cluster.Keyspace = ks
	direct, err := cluster.CreateSession()
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = direct.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec()
		direct.Close()
	}()
	if err := direct.Query(`CREATE TABLE IF NOT EXISTS grade (id int PRIMARY KEY, events list<int>)`).Exec(); err != nil {
		b.Fatal(err)
	}
	run := cassandraCPU(b)
	var n atomic.Int64
	stmt := func() string {
		i := n.Add(1)
		return fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = %d", i, i%1000)
	}
	// parallel runs exec from 32 clients on 2 cores, like the bench.
	parallel := func(exec func() error) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := exec(); err != nil {
						b.Error(err)
					}
				}
			})
		}
	}
	// batchOfOne sends a statement as chorus bench --direct does.
	batchOfOne := func(next func() string) func() error {
		return func() error {
			q := direct.NewBatch(gocql.UnloggedBatch)
			q.Query(next())
			return direct.ExecuteBatch(q)
		}
	}
	run("direct", parallel(batchOfOne(stmt)))
	// The parts of Chorus's grouped path, to see where the time goes.
	// The records as they were before chorus_outcomes: one partition per
	// request id (the lever that moved to records by log position).
	if err := direct.Query(`CREATE TABLE IF NOT EXISTS per_id_records (id text PRIMARY KEY, seq bigint, idx int, code int, error text)`).Exec(); err != nil {
		b.Fatal(err)
	}
	const (
		progress   = `UPDATE chorus_state SET applied = ?, epoch = 1, partial = 0 WHERE id = 0`
		byPosition = `INSERT INTO chorus_outcomes (bucket, seq, idx, id, code, error) VALUES (?, ?, ?, ?, ?, ?) USING TTL 3600`
		byID       = `INSERT INTO per_id_records (id, seq, idx, code, error) VALUES (?, ?, ?, ?, ?) USING TTL 3600`
	)
	// raw sends 32 writes of next per batch, with their records and the
	// progress unless records is "".
	raw := func(next func() string, typ gocql.BatchType, records string) func(b *testing.B) {
		return func(b *testing.B) {
			for i := 0; i < b.N; i += 32 {
				q := direct.NewBatch(typ)
				for k := range 32 {
					q.Query(next())
					switch records {
					case byPosition:
						q.Query(records, int64(i>>8), int64(i), k, fmt.Sprint(i, k), 0, "")
					case byID:
						q.Query(records, fmt.Sprint(i, k), int64(i), k, 0, "")
					}
				}
				if records != "" {
					q.Query(progress, int64(i))
				}
				if err := direct.ExecuteBatch(q); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	// A small run, as at half of the peak: 4 idempotent writes with their
	// records, in a logged batch with the progress (Chorus's path), against
	// the two ways the "no logged batch for idempotent writes"
	// could go: an unlogged batch followed by the progress alone (the
	// progress never ahead of the writes), and an unlogged batch holding
	// the progress too (the lower bound: it would need the progress to lag
	// one run behind, since an unlogged batch may land in part).
	// smallBatch is writes i..i+3 with their records, and the progress
	// if withProgress.
	smallBatch := func(typ gocql.BatchType, i int, withProgress bool) *gocql.Batch {
		q := direct.NewBatch(typ)
		for k := range 4 {
			q.Query(fmt.Sprintf("UPDATE grade SET events = [%d] WHERE id = %d", i, (i+k)%1000))
			q.Query(byPosition, int64(i>>8), int64(i), k, fmt.Sprint(i, k), 0, "")
		}
		if withProgress {
			q.Query(progress, int64(i))
		}
		return q
	}
	small := func(typ gocql.BatchType, progressInBatch bool) func(b *testing.B) {
		return func(b *testing.B) {
			for i := 0; i < b.N; i += 4 {
				if err := direct.ExecuteBatch(smallBatch(typ, i, progressInBatch)); err != nil {
					b.Fatal(err)
				}
				if !progressInBatch {
					if err := direct.Query(progress, int64(i)).Exec(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	// The same logged batches with two or four in flight at once: what a
	// replica could gain by pipelining its runs (ns/op is per write, so
	// the wall time of b.N writes; latency per batch is ns/op × 4 × the
	// number in flight).
	inFlight := func(n int) func(b *testing.B) {
		return func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(4)) - 4
						if i >= b.N {
							return
						}
						if err := direct.ExecuteBatch(smallBatch(gocql.LoggedBatch, i, true)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	}
	for range 2 {
		run("small-4-logged-1-in-flight", inFlight(1))
		run("small-4-logged-2-in-flight", inFlight(2))
		run("small-4-logged-4-in-flight", inFlight(4))
	}
	for range 2 {
		run("small-4-logged-with-progress", small(gocql.LoggedBatch, true))
		run("small-4-unlogged-then-progress", small(gocql.UnloggedBatch, false))
		run("small-4-unlogged-with-progress", small(gocql.UnloggedBatch, true))
	}
	run("unlogged-32", raw(stmt, gocql.UnloggedBatch, ""))
	run("logged-32", raw(stmt, gocql.LoggedBatch, ""))
	run("logged-32-with-records-by-id", raw(stmt, gocql.LoggedBatch, byID))
	run("logged-32-with-records-by-position", raw(stmt, gocql.LoggedBatch, byPosition))
	// Idempotent writes (UPDATEs of regular columns), the same steps: the
	// direct write (an unlogged batch of one, as chorus bench --direct
	// sends it), 32 in an unlogged batch, in a logged one (the batchlog),
	// and with their records and the progress (Chorus's path). And the
	// same write as Session.Query: gocql prepares every DML query (its
	// shouldPrepare), so a one-off statement costs a PREPARE that
	// Cassandra parses and persists in system.prepared_statements, which
	// Chorus's reads and its writes that run alone pay today; behind a
	// leading comment gocql sends it unprepared, which isolates that cost.
	if err := direct.Query(`CREATE TABLE IF NOT EXISTS wide (id int PRIMARY KEY, a int, b text)`).Exec(); err != nil {
		b.Fatal(err)
	}
	set := func() string {
		i := n.Add(1)
		return fmt.Sprintf("UPDATE wide SET a = %d, b = 'v%d' WHERE id = %d", i, i, i%1000)
	}
	run("idem-direct", parallel(batchOfOne(set)))
	run("idem-query-prepared", parallel(func() error { return direct.Query(set()).Exec() }))
	run("idem-query-unprepared", parallel(func() error { return direct.Query("/* unprepared */ " + set()).Exec() }))
	run("idem-unlogged-32", raw(set, gocql.UnloggedBatch, ""))
	run("idem-logged-32", raw(set, gocql.LoggedBatch, ""))
	run("idem-logged-32-with-records", raw(set, gocql.LoggedBatch, byPosition))
	var seq atomic.Uint64
	seq.Store(1 << 20)
	order := func(writes int) messages.Order {
		s := seq.Add(1)
		o := messages.Order{Epoch: 1, Seq: s, Timestamp: time.Now().UnixMicro(), Writes: make([]messages.Write, writes)}
		for i := range o.Writes {
			o.Writes[i] = messages.Write{RequestID: fmt.Sprintf("r%d-%d", s, i), Stmt: stmt()}
		}
		return o
	}
	// One replica applies sequentially; the store is not for concurrent use.
	for _, group := range []int{1, 32, 128} {
		run(fmt.Sprintf("chorus-%d-per-batch", group), func(b *testing.B) {
			for i := 0; i < b.N; i += group {
				if _, err := c.Apply(ctx, []messages.Order{order(group)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cassandraCPU returns b.Run, reporting Cassandra's CPU per write
// (cass-µs/write) when CHORUS_BENCH_CASSANDRA_PID names its process.
func cassandraCPU(b *testing.B) func(name string, f func(*testing.B)) {
	pid, _ := strconv.Atoi(os.Getenv("CHORUS_BENCH_CASSANDRA_PID"))
	if pid <= 0 {
		return func(name string, f func(*testing.B)) { b.Run(name, f) }
	}
	if _, err := bench.ProcessCPU(pid); err != nil {
		b.Fatalf("CHORUS_BENCH_CASSANDRA_PID: %v", err)
	}
	return func(name string, f func(*testing.B)) {
		b.Run(name, func(b *testing.B) {
			from, _ := bench.ProcessCPU(pid)
			f(b)
			to, err := bench.ProcessCPU(pid)
			if err != nil {
				b.Fatalf("Cassandra's CPU: %v", err)
			}
			b.ReportMetric(float64((to-from).Microseconds())/float64(b.N), "cass-µs/write")
		})
	}
}
