package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// leaseTTL is what chorustest.Procs configures.
const leaseTTL = 2 * time.Second

func newProcEnv(t *testing.T, env map[string]string) (*env, *chorustest.Procs) {
	p := chorustest.StartProcs(t, 3, env)
	nc := p.Conn()
	e := newEnvOn(t, nc, p.Prefix, replicas{IDs: p.IDs, Session: p.Session, Keyspace: p.Keyspace})
	// Long attempts: a write waits out a failover rather than being resent.
	e.cl = client.New(nc, client.WithPrefix(p.Prefix), client.WithTimeout(60*time.Second), client.WithAttemptTimeout(20*time.Second))
	p.WaitLeader(nc, 30*time.Second, "")
	e.exec("", "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)")
	e.exec("", "INSERT INTO grade (id, events) VALUES (1, [])")
	return e, p
}

func others(ids []string, not string) []string {
	var out []string
	for _, id := range ids {
		if id != not {
			out = append(out, id)
		}
	}
	return out
}

// checkLog verifies the log itself: epochs never go back (no deposed leader
// appended after its successor's marker) and each epoch has one appender.
func checkLog(t *testing.T, e *env, p *chorustest.Procs) []messages.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, err := p.ReadLog(ctx, e.nc)
	if err != nil {
		t.Fatal(err)
	}
	appender := map[uint64]string{}
	var epoch uint64
	for _, o := range entries {
		if o.Kind == 255 {
			continue
		}
		if o.Epoch < epoch {
			t.Errorf("seq %d: epoch %d after epoch %d: a deposed leader appended", o.Seq, o.Epoch, epoch)
		}
		epoch = max(epoch, o.Epoch)
		if a, ok := appender[o.Epoch]; ok && a != o.Leader {
			t.Errorf("epoch %d appended by %s and %s", o.Epoch, a, o.Leader)
		}
		appender[o.Epoch] = o.Leader
	}
	return entries
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestLeaderFailover(t *testing.T) {
	e, p := newProcEnv(t, nil)
	var want []int64
	for range 5 {
		want = append(want, e.update("", 1))
	}
	var times []time.Duration
	for round := range 4 {
		leader := p.WaitLeader(e.nc, 30*time.Second, "")
		via := others(p.IDs, leader)[round%2]
		start := time.Now()
		if round%2 == 0 {
			p.Kill(leader)
		} else {
			p.Pause(leader)
		}
		// The next write commits once a new leader is in place.
		want = append(want, e.update(via, 1))
		d := time.Since(start)
		times = append(times, d)
		how := map[bool]string{true: "SIGKILL", false: "SIGSTOP"}[round%2 == 0]
		t.Logf("round %d: %s of leader %s; next write committed after %s", round, how, leader, d.Round(time.Millisecond))
		if d > leaseTTL+2*time.Second {
			t.Errorf("failover took %s, more than the lease TTL %s plus 2s", d, leaseTTL)
		}
		if round%2 == 0 {
			p.Start(leader)
		} else {
			p.Resume(leader)
			// The deposed leader wakes up, fails to append, steps down.
			want = append(want, e.update(leader, 1))
		}
		for range 3 {
			want = append(want, e.update(e.randomServer(), 1))
		}
	}
	t.Logf("failover: median %s, max %s over %d rounds", median(times).Round(time.Millisecond), slices.Max(times).Round(time.Millisecond), len(times))
	e.requireConverged(1, want, true)
	checkLog(t, e, p)
}

func TestReplicaKilledDuringApplyCatchesUp(t *testing.T) {
	e, p := newProcEnv(t, nil)
	var want []int64
	kills := 0
	for i := range 120 {
		want = append(want, e.update(p.IDs[i%2], 1)) // server0 and server1 stay up
		if i%15 == 7 {
			p.Kill("server2") // mid-stream: it may be applying right now
			kills++
		}
		if i%15 == 12 {
			p.Start("server2")
		}
	}
	if !p.Running("server2") {
		p.Start("server2")
	}
	t.Logf("server2 killed %d times during %d writes", kills, len(want))
	e.requireConverged(1, want, true)
	checkLog(t, e, p)
}

func TestLostKeyspaceIsRebuiltFromTheLog(t *testing.T) {
	e, p := newProcEnv(t, nil)
	var want []int64
	for range 10 {
		want = append(want, e.update("", 1))
	}
	p.Stop("server1")
	if err := p.Session.Query(`DROP KEYSPACE "` + p.Keyspace("server1") + `"`).Exec(); err != nil {
		t.Fatal(err)
	}
	want = append(want, e.update("server0", 1))
	p.Start("server1")
	e.requireConverged(1, want, true)

	// A keyspace dropped under a running worker: it stops with a clear
	// error instead of stalling, so a restart rebuilds it from the log.
	if err := p.Session.Query(`DROP KEYSPACE "` + p.Keyspace("server1") + `"`).Exec(); err != nil {
		t.Fatal(err)
	}
	want = append(want, e.update("server0", 1))
	chorustest.Eventually(t, 60*time.Second, func() error {
		if exited, code := p.Exited("server1"); !exited || code == 0 {
			return fmt.Errorf("server1 still running (or exited 0)")
		}
		return nil
	})
	if logs := p.Logs("server1"); !strings.Contains(logs, "keyspace lost") {
		t.Fatalf("server1 did not say its keyspace was lost:\n%s", logs)
	}
	p.Stop("server1")
	p.Start("server1")
	e.requireConverged(1, want, true)

	// Once the log no longer reaches back to seq 1 and there is no
	// snapshot, a lost keyspace cannot be rebuilt: the worker must refuse to
	// serve (with a snapshot it restores: TestSnapshotsTrimAndRestore).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, _ := jetstream.New(e.nc)
	st, err := js.Stream(ctx, messages.NewSubjects(p.Prefix).StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeKeep(3)); err != nil {
		t.Fatal(err)
	}
	p.Stop("server2")
	if err := p.Session.Query(`DROP KEYSPACE "` + p.Keyspace("server2") + `"`).Exec(); err != nil {
		t.Fatal(err)
	}
	p.Start("server2")
	chorustest.Eventually(t, 60*time.Second, func() error {
		if exited, code := p.Exited("server2"); !exited || code == 0 {
			return fmt.Errorf("server2 still running (or exited 0)")
		}
		return nil
	})
	if logs := p.Logs("server2"); !strings.Contains(logs, "there is no snapshot") {
		t.Fatalf("server2 did not say why it refused:\n%s", logs)
	}
}

func TestDeadReplicaLeavesAndRejoinsTheAckSet(t *testing.T) {
	e, p := newProcEnv(t, nil)
	var want []int64
	want = append(want, e.update("", 1))
	leader := p.WaitLeader(e.nc, 10*time.Second, "")
	frozen := others(p.IDs, leader)[0]
	p.Pause(frozen)
	for range 5 {
		want = append(want, e.update(leader, 1)) // commits without the frozen replica
	}
	st, err := p.Status(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range st.Workers {
		if w.ID == frozen && w.Live {
			t.Fatalf("frozen %s still live: %+v", frozen, st)
		}
	}
	p.Resume(frozen)
	chorustest.Eventually(t, 30*time.Second, func() error {
		st, err := p.Status(e.nc)
		if err != nil {
			return err
		}
		for _, w := range st.Workers {
			if w.ID == frozen && (!w.Live || w.Applied < st.LastSeq) {
				return fmt.Errorf("%s: %+v", frozen, w)
			}
		}
		return nil
	})
	// Back in the ACK set: SUCCESS again means it has the write.
	s := e.update(leader, 1)
	want = append(want, s)
	got, err := e.events(frozen, 1)
	if err != nil || !slices.Contains(got, s) {
		t.Fatalf("%s rejoined but lacks committed %d: %v %v", frozen, s, got, err)
	}
	e.requireConverged(1, want, true)
}

func TestNATSRestart(t *testing.T) {
	e, p := newProcEnv(t, nil)
	var want []int64
	for range 5 {
		want = append(want, e.update("", 1))
	}
	p.RestartNATS()
	for range 5 {
		want = append(want, e.update(e.randomServer(), 1))
	}
	e.requireConverged(1, want, true)
	checkLog(t, e, p)
}

// TestCassandraRestart stops and starts the Cassandra node itself, so it
// runs only where the test run owns it (make test sets
// CHORUS_TEST_CASSANDRA_CTL to deploy/local/cassandra.sh).
func TestCassandraRestart(t *testing.T) {
	ctl := os.Getenv("CHORUS_TEST_CASSANDRA_CTL")
	if ctl == "" {
		t.Skip("CHORUS_TEST_CASSANDRA_CTL not set: this test stops Cassandra, so it runs only under make test")
	}
	e, _ := newProcEnv(t, nil)
	var want []int64
	for range 3 {
		want = append(want, e.update("", 1))
	}
	run := func(args ...string) {
		out, err := exec.Command(ctl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", ctl, args, err, out)
		}
	}
	run("stop")
	if c, err := net.DialTimeout("tcp", "127.0.0.1:9042", time.Second); err == nil {
		c.Close()
		t.Skip("the Cassandra on 127.0.0.1:9042 was not started by " + ctl + ", so this test cannot stop it")
	}
	restarted := false
	defer func() {
		if !restarted {
			run("start")
		}
	}()
	// With Cassandra down no replica can apply: no SUCCESS, a clear error.
	s := e.counter.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := e.cl.Exec(ctx, fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = 1", s))
	cancel()
	if err == nil {
		t.Fatal("SUCCESS while Cassandra is down")
	}
	t.Logf("write while Cassandra is down: %v", err)
	run("start")
	restarted = true
	// The write was ordered: every replica applies it once Cassandra is back.
	want = append(want, s)
	e.requireConverged(1, want, true)
	want = append(want, e.update("", 1))
	e.requireConverged(1, want, true)
}

func TestExactlyOnceAcrossWorkersLeadersAndRestarts(t *testing.T) {
	e, p := newProcEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := e.counter.Add(1)
	stmt := fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = 1", s)
	first, err := e.cl.Exec(ctx, stmt, client.WithRequestID("once-1"), client.WithServer("server0"))
	if err != nil {
		t.Fatal(err)
	}
	bad := "UPDATE grade SET nosuch = 1 WHERE id = 1"
	_, badErr := e.cl.Exec(ctx, bad, client.WithRequestID("once-2"))
	var ce *client.Error
	if !errors.As(badErr, &ce) || ce.Seq == 0 {
		t.Fatalf("invalid statement: %v", badErr)
	}
	retry := func(when string) {
		t.Helper()
		for _, id := range p.IDs {
			r, err := e.cl.Exec(ctx, stmt, client.WithRequestID("once-1"), client.WithServer(id))
			if err != nil || r.Seq != first.Seq {
				t.Fatalf("%s: retry via %s: seq %d (first %d), %v", when, id, r.Seq, first.Seq, err)
			}
			_, err = e.cl.Exec(ctx, bad, client.WithRequestID("once-2"), client.WithServer(id))
			var ce2 *client.Error
			if !errors.As(err, &ce2) || ce2.Seq != ce.Seq || ce2.Message != ce.Message {
				t.Fatalf("%s: retry of the failed request via %s: %v, first %v", when, id, err, badErr)
			}
		}
	}
	retry("at once")
	leader := p.WaitLeader(e.nc, 10*time.Second, "")
	p.Kill(leader)
	p.WaitLeader(e.nc, 30*time.Second, leader)
	p.Start(leader)
	retry("after a leader change")
	for _, id := range p.IDs {
		p.Stop(id)
	}
	for _, id := range p.IDs {
		p.Start(id)
	}
	p.WaitLeader(e.nc, 30*time.Second, "")
	retry("after restarting every worker")
	e.requireConverged(1, []int64{s}, true)
}
