package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// lagWrites is how many appends a frozen replica misses, so that it is
// still catching up when it answers the first reads after its thaw.
const lagWrites = 400

// TestLocalReadsCanBeStale shows the difference between the read levels
// on a replica that lags: frozen past the heartbeat timeout it leaves the
// ACK set, writes commit without it, and right after its thaw a local read
// on it misses acknowledged writes (and says so with its seq), while a
// linearizable read on the same worker at the same moment waits until it
// has caught up (or answers UNAVAILABLE) and is never stale; so is a
// min_seq read given the last write's seq.
func TestLocalReadsCanBeStale(t *testing.T) {
	e, p := newProcEnv(t, nil)
	e.update("", 1)
	leader := p.WaitLeader(e.nc, 10*time.Second, "")
	lagging := others(p.IDs, leader)[0]
	query := func(level messages.ReadConsistency) (*client.Rows, []int64, time.Duration, error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rows, err := e.cl.Query(ctx, "SELECT events FROM grade WHERE id = 1",
			client.WithServer(lagging), client.WithReadConsistency(level), client.WithAttemptTimeout(8*time.Second))
		if err != nil {
			return nil, nil, time.Since(start), err
		}
		list, err := listOf(rows)
		return rows, list, time.Since(start), err
	}
	linearizable := messages.ReadConsistency{Level: messages.ReadLinearizable}
	for round := 1; ; round++ {
		p.Pause(lagging)
		// Writes through the leader commit once the frozen one is out.
		var mu sync.Mutex
		var acked []int64
		var last uint64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < lagWrites; i += 8 {
					s := e.counter.Add(1)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					res, err := e.cl.Exec(ctx, fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = 1", s), client.WithServer(leader))
					cancel()
					if err != nil {
						t.Errorf("append %d: %v", s, err)
						return
					}
					mu.Lock()
					acked, last = append(acked, s), max(last, res.Seq)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		p.Resume(lagging)
		// The same moment, both levels, on the lagging worker.
		type answer struct {
			rows *client.Rows
			list []int64
			took time.Duration
			err  error
		}
		var local, lin answer
		var both sync.WaitGroup
		both.Add(2)
		go func() {
			defer both.Done()
			local.rows, local.list, local.took, local.err = query(messages.ReadConsistency{})
		}()
		go func() { defer both.Done(); lin.rows, lin.list, lin.took, lin.err = query(linearizable) }()
		both.Wait()
		missing := func(list []int64) int {
			n := 0
			for _, v := range acked {
				if !slices.Contains(list, v) {
					n++
				}
			}
			return n
		}
		var ce *client.Error
		switch {
		case lin.err == nil && missing(lin.list) > 0:
			t.Fatalf("round %d: a linearizable read on %s is stale: it misses %d of %d acknowledged appends (seq %d, last acknowledged seq %d)",
				round, lagging, missing(lin.list), len(acked), lin.rows.Seq, last)
		case lin.err == nil && lin.rows.Seq < last:
			t.Fatalf("round %d: a linearizable read on %s says it reflects seq %d, before the acknowledged seq %d", round, lagging, lin.rows.Seq, last)
		case lin.err != nil && !(errors.As(lin.err, &ce) && ce.Code == messages.CodeUnavailable):
			t.Fatalf("round %d: a linearizable read on %s failed with %v, want rows or UNAVAILABLE", round, lagging, lin.err)
		}
		if lin.err == nil {
			t.Logf("round %d: linearizable read on %s waited %s and reflects seq %d: all %d acknowledged appends", round, lagging, lin.took.Round(time.Millisecond), lin.rows.Seq, len(acked))
		} else {
			t.Logf("round %d: linearizable read on %s after %s: %v (allowed: never stale)", round, lagging, lin.took.Round(time.Millisecond), lin.err)
		}
		// read-your-writes: at least the last acknowledged seq.
		rows, list, took, err := query(messages.ReadConsistency{Level: messages.ReadMinSeq, Seq: last})
		if err == nil && (missing(list) > 0 || rows.Seq < last) {
			t.Fatalf("round %d: a min_seq:%d read on %s reflects seq %d and misses %d acknowledged appends", round, last, lagging, rows.Seq, missing(list))
		}
		t.Logf("round %d: min_seq:%d read on %s after %s: err %v", round, last, lagging, took.Round(time.Millisecond), err)
		if local.err != nil {
			t.Fatalf("round %d: local read on %s: %v", round, lagging, local.err)
		}
		if n := missing(local.list); n > 0 {
			if local.rows.Seq >= last {
				t.Fatalf("round %d: a local read misses %d acknowledged appends yet says it reflects seq %d >= %d", round, n, local.rows.Seq, last)
			}
			t.Logf("round %d: local read on %s: stale, as local may be: misses %d of %d acknowledged appends, reflects seq %d < last acknowledged seq %d",
				round, lagging, n, len(acked), local.rows.Seq, last)
			break
		}
		// The replica caught up before the local read ran: lag it again.
		if round == 3 {
			t.Fatalf("in %d rounds, a local read on %s right after its thaw was never stale: the test cannot show the difference", round, lagging)
		}
		t.Logf("round %d: %s caught up before the local read; lagging it again", round, lagging)
		chorustest.Eventually(t, 30*time.Second, func() error {
			_, _, _, err := query(linearizable)
			return err
		})
	}
}

// BenchmarkReads measures a linearizable read against a local one, side by
// side in one run, on a 3-worker cluster: the same SELECT of one row
// through any worker. The ratio of their ns/op is the cost of the read
// index (a round trip to the leader, confirmed under its lease, plus the
// wait for the replica, usually none).
func BenchmarkReads(b *testing.B) {
	c := chorustest.StartCluster(b, 3)
	cl := client.New(c.Conn(), client.WithPrefix(c.Prefix), client.WithTimeout(30*time.Second))
	ctx := context.Background()
	for _, stmt := range []string{"CREATE TABLE grade (id int PRIMARY KEY, events list<int>)", "INSERT INTO grade (id, events) VALUES (1, [1, 2, 3])"} {
		if _, err := cl.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	for _, level := range []string{"local", "linearizable"} {
		rc, err := messages.ParseReadConsistency(level)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(level, func(b *testing.B) {
			for b.Loop() {
				rows, err := cl.Query(ctx, "SELECT events FROM grade WHERE id = 1", client.WithReadConsistency(rc))
				if err != nil {
					b.Fatal(err)
				}
				if len(rows.Rows) != 1 {
					b.Fatalf("rows %+v", rows.Rows)
				}
			}
		})
	}
}
