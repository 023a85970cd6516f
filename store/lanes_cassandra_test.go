package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// laneOrders: n ORDERs of per writes each from seq 1, list appends to 5
// rows with an INSERT of another table every 6th write; bad (if >= 0) is
// the position of a write Cassandra rejects.
func laneOrders(n, per, bad int) []messages.Order {
	ts := time.Now().UnixMicro()
	var out []messages.Order
	i := 0
	for s := 1; s <= n; s++ {
		o := messages.Order{Epoch: 1, Seq: uint64(s), Timestamp: ts + int64(s*1000)}
		for range per {
			stmt := fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = %d", i, i%5)
			switch {
			case i == bad:
				stmt = fmt.Sprintf("UPDATE grade SET nosuch = %d WHERE id = 1", i)
			case i%6 == 5:
				stmt = fmt.Sprintf("INSERT INTO other (id, v) VALUES (%d, 'v%d')", i, i)
			}
			o.Writes = append(o.Writes, messages.Write{RequestID: fmt.Sprintf("r%d", i), Stmt: stmt})
			i++
		}
		out = append(out, o)
	}
	return out
}

func laneKeyspace(t *testing.T, ctx context.Context) *testKeyspace {
	k := newTestKeyspace(t, ctx, chorustest.CassandraHosts(t))
	k.exec(t, `CREATE TABLE grade (id int PRIMARY KEY, events list<int>, nosuch_not int)`, `CREATE TABLE other (id int PRIMARY KEY, v text)`)
	return k
}

func (k *testKeyspace) lists(t *testing.T) map[int][]int {
	t.Helper()
	out := map[int][]int{}
	iter := k.session.Query(`SELECT id, events FROM grade`).Iter()
	var id int
	var ev []int
	for iter.Scan(&id, &ev) {
		out[id] = append([]int(nil), ev...)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// oneByOne applies the ORDERs one per call: each run below the lanes' size.
func oneByOne(t *testing.T, ctx context.Context, s *store.Cassandra, orders []messages.Order) [][]messages.Outcome {
	t.Helper()
	var outs [][]messages.Outcome
	for _, o := range orders {
		got, err := s.Apply(ctx, []messages.Order{o})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, got...)
	}
	if s.LanedChunks() != 0 {
		t.Fatalf("runs of %d writes went in lanes", len(orders[0].Writes))
	}
	return outs
}

// TestCassandraLanesKeepEachRowsOrder: a long run applied in lanes leaves
// every list as applying it write by write does (each row's appends in log
// order), with the same outcomes, and moves the progress past the run.
func TestCassandraLanesKeepEachRowsOrder(t *testing.T) {
	chorustest.RequireIntegration(t)
	ctx := context.Background()
	orders := laneOrders(12, 50, -1)
	a, b := laneKeyspace(t, ctx), laneKeyspace(t, ctx)
	want := oneByOne(t, ctx, b.store, orders)
	got, err := a.store.Apply(ctx, orders)
	if err != nil {
		t.Fatal(err)
	}
	if a.store.LanedChunks() == 0 {
		t.Fatal("a run of 600 writes was not applied in lanes")
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes in lanes differ from one by one")
	}
	if la, lb := a.lists(t), b.lists(t); !reflect.DeepEqual(la, lb) {
		t.Fatalf("lists after lanes:\n%v\nwrite by write:\n%v", la, lb)
	}
	_, st := a.reopen(t, ctx)
	if st.Applied != 12 || st.Partial != 0 {
		t.Fatalf("progress after the run: %+v; want applied 12", st)
	}
}

// TestCassandraLanesRefusedBatch: a write Cassandra rejects makes its
// lane's batch fail; the writes other lanes landed are not applied again
// (their records say they landed), and each write gets the outcome it
// gets applied one by one.
func TestCassandraLanesRefusedBatch(t *testing.T) {
	chorustest.RequireIntegration(t)
	ctx := context.Background()
	orders := laneOrders(6, 50, 137)
	a, b := laneKeyspace(t, ctx), laneKeyspace(t, ctx)
	want := oneByOne(t, ctx, b.store, orders)
	if want[2][37].Code != messages.CodeCQL {
		t.Fatalf("the bad write's outcome one by one: %+v", want[2][37])
	}
	got, err := a.store.Apply(ctx, orders)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes after a refused lane differ from one by one:\n%v\n%v", got, want)
	}
	if la, lb := a.lists(t), b.lists(t); !reflect.DeepEqual(la, lb) {
		t.Fatalf("lists after a refused lane:\n%v\nwrite by write:\n%v", la, lb)
	}
}

// TestCassandraLanesCrashBeforeProgress: a worker that stopped after its
// lanes landed but before the progress moved finds, when it opens the
// keyspace again, the writes beyond the progress by their records, and
// applying the run again changes nothing.
func TestCassandraLanesCrashBeforeProgress(t *testing.T) {
	chorustest.RequireIntegration(t)
	ctx := context.Background()
	orders := laneOrders(8, 50, -1)
	a := laneKeyspace(t, ctx)
	want, err := a.store.Apply(ctx, orders)
	if err != nil || a.store.LanedChunks() == 0 {
		t.Fatalf("Apply: %v, %d chunks in lanes", err, a.store.LanedChunks())
	}
	lists := a.lists(t)
	// The progress as it was before the run: as if the last write never came.
	a.exec(t, fmt.Sprintf(`UPDATE chorus_state USING TIMESTAMP %d SET applied = 0, partial = 0 WHERE id = 0`, orders[7].Timestamp+1000))
	reopened, st := a.reopen(t, ctx)
	if st.Applied != 0 {
		t.Fatalf("progress after the rollback: %+v", st)
	}
	if _, err := reopened.Export(ctx, io.Discard); !errors.Is(err, store.ErrSnapshotPartial) {
		t.Fatalf("Export with writes beyond the progress: %v; want ErrSnapshotPartial", err)
	}
	got, err := reopened.Apply(ctx, orders)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes applied again differ")
	}
	if again := a.lists(t); !reflect.DeepEqual(again, lists) {
		t.Fatalf("lists after applying the run again:\n%v\nbefore:\n%v", again, lists)
	}
	if _, err := reopened.Export(ctx, io.Discard); err != nil {
		t.Fatalf("Export once the progress covers the run: %v", err)
	}
}
