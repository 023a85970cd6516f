package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/client"
)

// A short closed-loop run through a real 3-worker cluster commits writes
// without errors, on every replica. (Skipped under -short; not a
// performance test: it asserts nothing about speed.)
func TestBenchThroughCluster(t *testing.T) {
	c := chorustest.StartCluster(t, 3)
	cl := client.New(c.Conn(), client.WithPrefix(c.Prefix))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ex := Chorus{Client: cl}
	if err := ex.Setup(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := LiveReplicas(ctx, cl); err != nil || n != 3 {
		t.Fatalf("live replicas %d, %v", n, err)
	}
	res, err := Run(ctx, Options{
		Concurrency: 8, Duration: 2 * time.Second, Warmup: 200 * time.Millisecond,
		Timeout: 30 * time.Second, Workload: DefaultWorkload,
	}, ex)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes in %.1fs: %.0f/s, p50 %.2fms, p99 %.2fms", res.OK, res.Elapsed, res.Throughput, res.Latency.P50, res.Latency.P99)
	if res.OK == 0 || res.Errors != 0 || res.WarmupErrors != 0 {
		t.Fatalf("ok %d, errors %d (%v, first %q), warmup errors %d", res.OK, res.Errors, res.ErrorKinds, res.FirstErrors, res.WarmupErrors)
	}
	// Every replica applied every write: the wide rows are there on each.
	inserts := 0
	for i := range res.WarmupOK + res.OK {
		if kind, _ := DefaultWorkload.Op(i); kind == KindInsert {
			inserts++
		}
	}
	for _, id := range c.IDs {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM "%s".%s`, c.Keyspace(id), WideTable)
		if err := c.Session.Query(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != inserts {
			t.Errorf("%s has %d wide rows, want %d", id, n, inserts)
		}
	}
}

// The direct baseline runs the same statements in a keyspace of its own,
// which DropKeyspaces removes.
func TestBenchDirect(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ks := fmt.Sprintf("bench_test_%d", time.Now().UnixNano()%1_000_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := OpenDirect(ctx, DirectOptions{Hosts: hosts, Keyspace: ks, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DropKeyspaces(context.Background(), hosts, 30*time.Second, []string{ks}); err != nil {
			t.Error(err)
		}
	})
	defer d.Close()
	res, err := Run(ctx, Options{Concurrency: 4, Requests: 200, Timeout: 30 * time.Second, Workload: DefaultWorkload}, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 || res.Errors != 0 {
		t.Fatalf("ok %d, errors %d: %q", res.OK, res.Errors, res.FirstErrors)
	}
	var n int
	if err := d.Session.Query(`SELECT count(*) FROM ` + WideTable).Scan(&n); err != nil || n == 0 {
		t.Fatalf("%d wide rows, %v", n, err)
	}
}

// BenchmarkClusterWrite measures committed writes through a real 3-worker
// cluster (go test -run '^$' -bench ClusterWrite ./bench/). `chorus bench`
// and `make bench` are the full tool; this is the same path in testing.B
// form, for profiling with -cpuprofile.
func BenchmarkClusterWrite(b *testing.B) {
	c := chorustest.StartCluster(b, 3)
	cl := client.New(c.Conn(), client.WithPrefix(c.Prefix))
	ex := Chorus{Client: cl}
	if err := ex.Setup(context.Background(), time.Minute); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS clients, like a closed loop
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := ex.Exec(context.Background(), DefaultWorkload.Statement(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
