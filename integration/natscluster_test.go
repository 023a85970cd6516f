package integration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// maxNATSFaultStall bounds the time without commits around one NATS fault.
const maxNATSFaultStall = 40 * time.Second

// natsFault is one fault of TestNATSCluster and what the writes saw.
type natsFault struct {
	name       string
	start, end time.Time
	acked      int           // appends acknowledged between start and end
	stall      time.Duration // the longest time without an acknowledgement
}

// TestNATSCluster runs 3 worker processes on a 3-server JetStream cluster
// (the shipped nats-cluster.conf and roles, the log, lease and snapshot
// bucket at R3, every worker given every server's URL) under continuous
// list appends, and one fault at a time: SIGKILL the server leading the
// ORDER stream, then restart it; SIGSTOP the stream's leader until another
// server leads it (past JetStream's election timeout), then resume it;
// SIGKILL a server that does not lead the stream, then restart it. Then it
// checks the history as the chaos test does (every acknowledged append
// present once, nothing twice, real-time order, replicas identical) and
// reports per fault the appends acknowledged and the longest stall.
func TestNATSCluster(t *testing.T) {
	servers := chorustest.StartNATSCluster(t, 3)
	p := chorustest.StartProcsOn(t, servers, 3, map[string]string{"CHORUS_SNAPSHOT_EVERY": "200", "CHORUS_LOG_RETAIN": "100"})
	admin := p.Conn()
	e := newEnvOn(t, admin, p.Prefix, replicas{IDs: p.IDs, Session: p.Session, Keyspace: p.Keyspace})
	e.cl = client.New(admin, client.WithPrefix(p.Prefix), client.WithTimeout(60*time.Second), client.WithAttemptTimeout(20*time.Second))
	p.WaitLeader(admin, 60*time.Second, "")
	e.exec("", "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)")
	keys := []int{1, 2, 3}
	for _, k := range keys {
		e.exec("", fmt.Sprintf("INSERT INTO grade (id, events) VALUES (%d, [])", k))
	}
	stream := messages.NewSubjects(p.Prefix).StreamName()
	requireReplicas(t, admin, p.Prefix, 3)

	// Clients without credentials (the client role), each on its own
	// connection to every server, appending with request ids.
	var mu sync.Mutex
	var history []*op
	var acks atomic.Int64
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for c := range 4 {
		clients.Add(1)
		conn := servers.Conn(chorustest.Anonymous)
		go func() {
			defer clients.Done()
			cl := client.New(conn, client.WithPrefix(p.Prefix), client.WithTimeout(60*time.Second), client.WithAttemptTimeout(5*time.Second))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := &op{client: c, key: keys[i%len(keys)], value: e.counter.Add(1), call: time.Now()}
				mu.Lock()
				history = append(history, o)
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := cl.Exec(ctx, fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = %d", o.value, o.key),
					client.WithRequestID(fmt.Sprintf("natscluster-%d-%d", c, i)))
				cancel()
				mu.Lock()
				var ce *client.Error
				switch {
				case err == nil:
					o.ok, o.ret = true, time.Now()
					acks.Add(1)
				case errors.As(err, &ce) && ce.Code.String() != "UNAVAILABLE":
					o.definite, o.ret = true, time.Now()
					t.Errorf("client %d: final error for append %d: %v", c, o.value, err)
				}
				mu.Unlock()
			}
		}()
	}
	defer func() { close(stop); clients.Wait() }()

	// more waits for n acknowledgements after now (commits go on).
	more := func(n int64, what string) {
		t.Helper()
		from := acks.Load()
		chorustest.Eventually(t, 90*time.Second, func() error {
			if got := acks.Load() - from; got < n {
				return fmt.Errorf("%s: %d of %d appends acknowledged", what, got, n)
			}
			return nil
		})
	}
	streamLeader := func() string {
		t.Helper()
		var leader string
		chorustest.Eventually(t, 60*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			si, err := chorustest.StreamInfo(ctx, admin, stream)
			if err != nil {
				return err
			}
			if si.Cluster == nil || si.Cluster.Leader == "" {
				return fmt.Errorf("stream %s has no leader", stream)
			}
			leader = si.Cluster.Leader
			return nil
		})
		return leader
	}
	// healed waits until server i is back in the stream's replica set and current.
	healed := func(i int) {
		t.Helper()
		servers.WaitHealthy(i, 90*time.Second)
		chorustest.Eventually(t, 90*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			si, err := chorustest.StreamInfo(ctx, admin, stream)
			if err != nil {
				return err
			}
			if si.Cluster.Leader == servers.Names[i] {
				return nil
			}
			for _, r := range si.Cluster.Replicas {
				if r.Name == servers.Names[i] && r.Current {
					return nil
				}
			}
			return fmt.Errorf("%s is not a current replica of %s yet", servers.Names[i], stream)
		})
	}

	more(30, "warm-up")
	// Every worker running and live before the first fault: on 2 cores a
	// worker can still be starting (or restoring a snapshot) here.
	chorustest.Eventually(t, 2*time.Minute, func() error {
		st, err := p.Status(admin)
		if err != nil {
			return err
		}
		live := 0
		for _, w := range st.Workers {
			if w.Live {
				live++
			}
		}
		if live < len(p.IDs) {
			return fmt.Errorf("%d of %d workers live", live, len(p.IDs))
		}
		return nil
	})
	var faults []*natsFault
	run := func(name string, fault func()) {
		f := &natsFault{name: name, start: time.Now()}
		t.Logf("fault: %s", name)
		fault()
		more(30, name+", after healing")
		f.end = time.Now()
		faults = append(faults, f)
	}
	run("SIGKILL the ORDER stream's leader, then restart it", func() {
		leader := streamLeader()
		i := servers.Index(leader)
		servers.Kill(i)
		more(30, "with "+leader+" killed")
		servers.Start(i)
		healed(i)
	})
	run("SIGSTOP the ORDER stream's leader until another leads it, then SIGCONT", func() {
		leader := streamLeader()
		i := servers.Index(leader)
		servers.Pause(i)
		frozen := time.Now()
		chorustest.Eventually(t, 90*time.Second, func() error {
			if l := streamLeader(); l == leader {
				return fmt.Errorf("%s, frozen, still leads %s", leader, stream)
			}
			return nil
		})
		more(30, "with "+leader+" frozen")
		t.Logf("%s frozen for %s (JetStream's election timeout is 4-9 s)", leader, time.Since(frozen).Round(time.Millisecond))
		servers.Resume(i)
		healed(i)
	})
	run("SIGKILL a server that does not lead the ORDER stream, then restart it", func() {
		leader := streamLeader()
		i := (servers.Index(leader) + 1) % len(servers.Names)
		servers.Kill(i)
		more(30, "with "+servers.Names[i]+" killed")
		servers.Start(i)
		healed(i)
	})
	close(stop)
	clients.Wait()
	stop = make(chan struct{}) // for the deferred close

	var final map[int][]int64
	chorustest.Eventually(t, 2*time.Minute, func() (err error) {
		final, err = e.agreedLists(keys)
		return err
	})
	acked, unknown, problems := checkHistory(history, final)
	for _, pr := range problems {
		t.Error(pr)
	}
	measureFaults(history, faults)
	for _, f := range faults {
		t.Logf("%s: %d appends acknowledged over %s, longest stall %s", f.name, f.acked, f.end.Sub(f.start).Round(time.Millisecond), f.stall.Round(time.Millisecond))
		// JetStream elects a stream leader in 4-9 s; a stall far beyond
		// that is Chorus waiting on something that will not come (as it
		// did on appends whose acknowledgement died with the stream leader).
		if f.stall > maxNATSFaultStall {
			t.Errorf("%s: no commit for %s (bound %s)", f.name, f.stall.Round(time.Millisecond), maxNATSFaultStall)
		}
	}
	t.Logf("history: %d appends, %d acknowledged and checked (lost: %d, doubled or unsent: %d), %d without an answer",
		len(history), acked, countLost(problems), len(problems)-countLost(problems), unknown)
	checkLog(t, e, p)
}

// requireReplicas checks that the ORDER stream and the streams behind the
// lease and snapshot buckets have want replicas (CHORUS_LOG_REPLICAS).
func requireReplicas(t *testing.T, admin *nats.Conn, prefix string, want int) {
	t.Helper()
	s := messages.NewSubjects(prefix)
	for _, stream := range []string{s.StreamName(), "KV_" + s.LeaseBucket(), "OBJ_" + s.SnapshotBucket()} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		si, err := chorustest.StreamInfo(ctx, admin, stream)
		cancel()
		if err != nil {
			t.Fatalf("stream %s: %v", stream, err)
		}
		if si.Config.Replicas != want {
			t.Fatalf("stream %s has %d replicas, want %d (CHORUS_LOG_REPLICAS)", stream, si.Config.Replicas, want)
		}
	}
}

// measureFaults fills in each fault's acknowledged appends and its longest
// stall: the longest gap between consecutive acknowledgements that touches
// the fault's window (from the last one before it started).
func measureFaults(history []*op, faults []*natsFault) {
	var rets []time.Time
	for _, o := range history {
		if o.ok {
			rets = append(rets, o.ret)
		}
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i].Before(rets[j]) })
	for _, f := range faults {
		prev := f.start
		for _, r := range rets {
			if r.Before(f.start) {
				prev = r
				continue
			}
			if r.After(f.end) {
				break
			}
			f.acked++
			f.stall = max(f.stall, r.Sub(prev))
			prev = r
		}
	}
}

// countLost counts the problems of checkHistory that are lost acknowledged writes.
func countLost(problems []string) int {
	n := 0
	for _, p := range problems {
		if strings.Contains(p, "acknowledged value") && strings.Contains(p, "is missing") {
			n++
		}
	}
	return n
}
