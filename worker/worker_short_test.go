package worker_test

// Fast tests of the worker on a real, in-process nats-server and in-memory
// stores (store.Memory): the apply loop, forwarding and request handling,
// with no Cassandra. They run under -short.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
	"github.com/chorusdb/chorus/worker"
)

// leaseTTL is the lease of every test cluster: failover is bounded by it.
const leaseTTL = time.Second

// converge bounds every wait for a condition.
const converge = 20 * time.Second

// reqTimeout bounds one request of writeMany.
const reqTimeout = 10 * time.Second

// memCluster is workers running in this process on one nats-server, each
// with a store.Memory that outlives its worker (restarts Reopen it).
type memCluster struct {
	t      *testing.T
	srv    *server.Server
	url    string
	prefix string
	nc     *nats.Conn

	mu      sync.Mutex
	stores  map[string]*store.Memory
	running map[string]*memWorker
	tweak   func(*worker.Config) // applied to every worker's configuration, if set
}

type memWorker struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

// newMemCluster starts workers server0..server{n-1} and waits until a
// leader answers status with all n workers live.
func newMemCluster(t *testing.T, n int) *memCluster {
	t.Helper()
	return newMemClusterWith(t, n, nil)
}

// newMemClusterWith is newMemCluster with tweak applied to every worker's
// configuration.
func newMemClusterWith(t *testing.T, n int, tweak func(*worker.Config)) *memCluster {
	t.Helper()
	srv := startNATS(t)
	c := &memCluster{t: t, srv: srv, url: srv.ClientURL(), prefix: "t" + randomHex(), stores: map[string]*store.Memory{}, running: map[string]*memWorker{}, tweak: tweak}
	nc, err := nats.Connect(c.url)
	if err != nil {
		t.Fatalf("connecting to NATS: %v", err)
	}
	c.nc = nc
	t.Cleanup(func() {
		c.mu.Lock()
		var ids []string
		for id := range c.running {
			ids = append(ids, id)
		}
		c.mu.Unlock()
		for _, id := range ids {
			c.stop(id)
		}
		nc.Close()
	})
	for i := range n {
		c.start(fmt.Sprintf("server%d", i))
	}
	c.waitLeader(n)
	return c
}

// startNATS runs a nats-server with JetStream in this process for one
// test. Unlike chorustest.NATS it does not fsync every write: these tests
// crash no server, and the speed buys a log of thousands of entries.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start within 10s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func randomHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// config is worker id's configuration: the defaults, with short heartbeats
// and a 1s lease, as chorustest does for the Cassandra clusters.
func (c *memCluster) config(id string) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.ID, cfg.Keyspace, cfg.NATSURL, cfg.CassandraHosts = id, id, c.url, []string{"unused:9042"}
	cfg.SubjectPrefix, cfg.LeaseTTL = c.prefix, leaseTTL
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 100*time.Millisecond, 600*time.Millisecond
	cfg.DedupWindow, cfg.DedupMax = time.Hour, 100000
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		c.t.Fatalf("worker config: %v", err)
	}
	return cfg
}

// start starts worker id on its Memory (a new, empty one the first time;
// the same one, reopened, after a stop).
func (c *memCluster) start(id string) {
	c.t.Helper()
	c.mu.Lock()
	m := c.stores[id]
	if m == nil {
		m = store.NewMemory()
		c.stores[id] = m
	}
	c.mu.Unlock()
	open := func(context.Context) (worker.Store, store.State, error) { return m, m.Reopen(), nil }
	ctx, cancel := context.WithCancel(context.Background())
	sink := io.Discard
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		sink = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo})).With("worker", id)
	w, err := worker.New(ctx, c.config(id), log, open)
	if err != nil {
		cancel()
		c.t.Fatalf("starting %s: %v", id, err)
	}
	r := &memWorker{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	c.mu.Lock()
	c.running[id] = r
	c.mu.Unlock()
}

// stop stops worker id and waits until it has ended (and closed its store).
func (c *memCluster) stop(id string) {
	c.t.Helper()
	c.mu.Lock()
	r := c.running[id]
	delete(c.running, id)
	c.mu.Unlock()
	if r == nil {
		return
	}
	clients := c.srv.NumClients()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			c.t.Errorf("worker %s stopped with: %v", id, err)
		}
	case <-time.After(converge):
		c.t.Errorf("worker %s did not stop within %s", id, converge)
	}
	if !c.store(id).Closed() {
		c.t.Errorf("worker %s ended without closing its store", id)
	}
	// Until the server has seen the worker's connection go, it may still
	// route a request to it, and the request would be lost.
	chorustest.Eventually(c.t, converge, func() error {
		if n := c.srv.NumClients(); n >= clients {
			return fmt.Errorf("the NATS server has %d clients, had %d before %s stopped", n, clients, id)
		}
		return nil
	})
}

func (c *memCluster) worker(id string) *worker.Worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.running[id]; r != nil {
		return r.w
	}
	return nil
}

func (c *memCluster) store(id string) *store.Memory {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[id]
}

// ids lists every worker ever started (running or not), sorted.
func (c *memCluster) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.stores {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// runningIDs lists the running workers, sorted.
func (c *memCluster) runningIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// status asks the leader for the cluster's status.
func (c *memCluster) status() (messages.Status, error) {
	var st messages.Status
	m, err := c.nc.Request(c.prefix+".status", nil, time.Second)
	if err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return st, fmt.Errorf("status %q: %w", m.Data, err)
	}
	return st, nil
}

func statusWorker(st messages.Status, id string) (messages.StatusWorker, bool) {
	for _, w := range st.Workers {
		if w.ID == id {
			return w, true
		}
	}
	return messages.StatusWorker{}, false
}

// waitLeader waits until a running worker leads and its status shows at
// least live workers live; it returns the leader's ID.
func (c *memCluster) waitLeader(live int) string {
	c.t.Helper()
	var leader string
	chorustest.Eventually(c.t, converge, func() error {
		st, err := c.status()
		if err != nil {
			return err
		}
		if st.Leader == "" || c.worker(st.Leader) == nil {
			return fmt.Errorf("no running leader: %+v", st)
		}
		n := 0
		for _, w := range st.Workers {
			if w.Live {
				n++
			}
		}
		if n < live {
			return fmt.Errorf("%d workers live, want %d: %+v", n, live, st)
		}
		leader = st.Leader
		return nil
	})
	return leader
}

// follower is a running worker other than leader.
func (c *memCluster) follower(leader string) string {
	for _, id := range c.runningIDs() {
		if id != leader {
			return id
		}
	}
	c.t.Fatal("no follower running")
	return ""
}

// request sends body to subject with headers (name, value pairs) and
// decodes the reply.
func (c *memCluster) request(subject string, body []byte, timeout time.Duration, headers ...string) (messages.Reply, error) {
	msg := nats.NewMsg(subject)
	msg.Data = body
	for i := 0; i+1 < len(headers); i += 2 {
		msg.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.nc.RequestMsg(msg, timeout)
	if err != nil {
		return messages.Reply{}, fmt.Errorf("request %q to %s: %w", body, subject, err)
	}
	return messages.DecodeReply(resp.Data)
}

// write sends stmt to subject and requires SUCCESS.
func (c *memCluster) write(subject, stmt string, headers ...string) messages.Reply {
	c.t.Helper()
	r, err := c.request(subject, []byte(stmt), converge, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	if r.Status != messages.StatusSuccess || r.Seq == 0 || r.RequestID == "" {
		c.t.Fatalf("%q to %s: %+v, want SUCCESS with seq and request id", stmt, subject, r)
	}
	return r
}

// writeMany sends n distinct writes to the shared request subject, conc at
// a time, and requires SUCCESS for each.
func (c *memCluster) writeMany(n, conc int, headers ...string) {
	c.t.Helper()
	var next atomic.Int64
	var failed atomic.Int64
	var first atomic.Pointer[string]
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || failed.Load() > 0 {
					return
				}
				stmt := fmt.Sprintf("UPDATE t SET a = a + [%d] WHERE k = 2", i)
				r, err := c.request(c.prefix+".request", []byte(stmt), reqTimeout, headers...)
				if err == nil && r.Status != messages.StatusSuccess {
					err = fmt.Errorf("%q: %+v", stmt, r)
				}
				if err != nil {
					if failed.Add(1) <= 3 {
						c.t.Logf("write failed at %s: %v", time.Now().Format("15:04:05.000"), err)
					}
					s := err.Error()
					first.CompareAndSwap(nil, &s)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		st, err := c.status()
		c.t.Logf("status after failures: %+v %v", st, err)
		for _, id := range c.runningIDs() {
			c.t.Logf("%s: applied %d, store %+v, stats %+v", id, c.worker(id).Applied(), c.store(id).State(), c.worker(id).Stats())
		}
		c.t.Fatalf("writes failed; first: %s", *first.Load())
	}
}

// sameHistories is nil when the stores of ids hold the same writes in the
// same order, and that history has want writes (want < 0: any number).
func (c *memCluster) sameHistories(ids []string, want int) error {
	var ref []store.MemoryWrite
	for i, id := range ids {
		h := c.store(id).History()
		if i == 0 {
			ref = h
			if want >= 0 && len(h) != want {
				return fmt.Errorf("%s holds %d writes, want %d", id, len(h), want)
			}
			continue
		}
		if !slices.Equal(h, ref) {
			return fmt.Errorf("%s holds %d writes, %s holds %d; first difference at %d", ids[0], len(ref), id, len(h), firstDiff(ref, h))
		}
	}
	return nil
}

func firstDiff(a, b []store.MemoryWrite) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// caughtUp is nil when every running worker has applied what the leader
// has, and every store holds the same history.
func (c *memCluster) caughtUp(leader string) error {
	lw := c.worker(leader)
	if lw == nil {
		return fmt.Errorf("leader %s is not running", leader)
	}
	want := lw.Applied()
	for _, id := range c.runningIDs() {
		if got := c.worker(id).Applied(); got != want {
			return fmt.Errorf("%s applied %d, leader %s applied %d", id, got, leader, want)
		}
	}
	return c.sameHistories(c.runningIDs(), -1)
}

// requireSane checks the replica counters of every running worker: nothing
// skipped (the log holds only the leaders' ORDERs), nothing left held.
func (c *memCluster) requireSane() {
	c.t.Helper()
	for _, id := range c.runningIDs() {
		st := c.worker(id).Stats()
		if st.Replica.Skipped != 0 || st.Replica.Held != 0 || st.Leader.Garbage != 0 {
			c.t.Errorf("%s stats: %+v, want nothing skipped, held or dropped", id, st)
		}
	}
}

// TestCommitReachesEveryReplica: a leader is elected; a write's SUCCESS
// comes only once every live replica applied it (invariant 2), and every
// replica holds the same writes in the same order (invariant 1): each
// store is read once, right after the reply, without polling.
func TestCommitReachesEveryReplica(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	ids := c.ids()
	var want []string
	for i := range 30 {
		subject := c.prefix + ".request"
		if i%3 == 1 { // also through each worker's own subject
			subject += "." + ids[(i/3)%len(ids)]
		}
		r := c.write(subject, fmt.Sprintf("UPDATE t SET a = a + [%d] WHERE k = 1", i))
		want = append(want, r.RequestID)
		for _, id := range ids {
			h := c.store(id).History()
			var got []string
			for _, w := range h {
				got = append(got, w.RequestID)
			}
			if !slices.Equal(got, want) {
				st, _ := c.status()
				t.Fatalf("after SUCCESS of write %d (seq %d), %s holds requests %v, want %v (status %+v)", i, r.Seq, id, got, want, st)
			}
			if last := h[len(h)-1]; last.Seq != r.Seq || last.Index != r.Index {
				t.Fatalf("%s applied the write at seq %d index %d, the reply says %d/%d", id, last.Seq, last.Index, r.Seq, r.Index)
			}
		}
		if err := c.sameHistories(ids, len(want)); err != nil {
			t.Fatal(err) // same statements and write timestamps too
		}
	}
	// A read is answered by the worker it reached, from its own store.
	for _, id := range ids {
		r, err := c.request(c.prefix+".request."+id, []byte("SELECT a FROM t WHERE k = 1"), converge)
		if err != nil {
			t.Fatal(err)
		}
		var rows []store.MemoryWrite
		if r.Status != messages.StatusSuccess || r.Server != id || json.Unmarshal(r.Rows, &rows) != nil || len(rows) != len(want) {
			t.Fatalf("read from %s: %+v, want SUCCESS with %d rows", id, r, len(want))
		}
	}
	st, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Committed != st.LastSeq || len(st.Workers) != 3 {
		t.Fatalf("status %+v: want everything committed, 3 workers", st)
	}
	c.requireSane()
}

// TestReplicaFarBehindCatchesUp: a replica stopped while thousands of
// writes commit catches up from the log after a restart on its store, and
// so does a new worker with an empty store.
func TestReplicaFarBehindCatchesUp(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	behind := c.follower(leader)
	c.write(c.prefix+".request", "UPDATE t SET a = a + [0] WHERE k = 2")
	c.stop(behind)
	before := len(c.store(behind).History())

	const n = 5000
	start := time.Now()
	c.writeMany(n, 64)
	t.Logf("%d writes with %s stopped in %s", n, behind, time.Since(start).Round(time.Millisecond))
	if got := len(c.store(behind).History()); got != before {
		t.Fatalf("the stopped worker's store changed: %d writes, had %d", got, before)
	}
	if err := c.sameHistories([]string{leader, c.follower(leader)}, n+1); err != nil {
		t.Fatal(err)
	}

	c.start(behind)
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(leader) })
	c.start("server3") // an empty store joining a log of thousands of entries
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(leader) })
	if err := c.sameHistories(c.ids(), n+1); err != nil {
		t.Fatal(err)
	}
	c.requireSane()

	// Both are back in the ACK set: the next write is on all four stores
	// when it succeeds.
	c.waitLeader(4)
	r := c.write(c.prefix+".request", "UPDATE t SET a = a + [-1] WHERE k = 2")
	for _, id := range c.ids() {
		h := c.store(id).History()
		if len(h) != n+2 || h[len(h)-1].RequestID != r.RequestID {
			t.Fatalf("%s holds %d writes after SUCCESS of seq %d, want %d ending with it", id, len(h), r.Seq, n+2)
		}
	}
}

// TestBlockedStoreLosesNothing: a replica whose store does not return
// while entries keep arriving holds at most its bound, loses none, and
// catches up once the store moves again (invariant 9).
func TestBlockedStoreLosesNothing(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	slow := c.follower(leader)
	m := c.store(slow)
	m.Block()
	unblocked := false
	defer func() {
		if !unblocked {
			m.Unblock()
		}
	}()

	// Watch Held while the entries arrive.
	var maxHeld atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		w := c.worker(slow)
		for {
			if h := int64(w.Stats().Replica.Held); h > maxHeld.Load() {
				maxHeld.Store(h)
			}
			select {
			case <-stop:
				return
			default:
				time.Sleep(time.Millisecond) // sampling pace, not a wait for correctness
			}
		}
	}()

	// Consistency one: the leader replies once its own replica applied, so
	// the blocked replica holds no client up. Few at a time, so that most
	// writes get an ORDER of their own: the log outgrows the bound.
	n := 0
	for c.worker(leader).Applied() < worker.DefaultMaxHeld+1000 {
		if n >= 4*worker.DefaultMaxHeld {
			t.Fatalf("%d writes made a log of %d entries only: too few to fill the replica", n, c.worker(leader).Applied())
		}
		c.writeMany(1000, 2, messages.HeaderConsistency, "one")
		n += 1000
	}
	last := c.worker(leader).Applied()
	chorustest.Eventually(t, converge, func() error {
		if m.Waiting() != 1 {
			return fmt.Errorf("%d Apply calls held at the gate, want 1", m.Waiting())
		}
		// Full: it holds its bound and leaves the rest in the log.
		if held := c.worker(slow).Stats().Replica.Held; held != worker.DefaultMaxHeld {
			return fmt.Errorf("the blocked replica holds %d entries, want its bound %d", held, worker.DefaultMaxHeld)
		}
		return nil
	})
	if got := c.worker(slow).Applied(); got >= last {
		t.Fatalf("blocked replica applied %d of %d", got, last)
	}
	close(stop)
	<-watched
	t.Logf("blocked replica held at most %d entries (bound %d), log at seq %d", maxHeld.Load(), worker.DefaultMaxHeld, last)

	m.Unblock()
	unblocked = true
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(leader) })
	if err := c.sameHistories(c.ids(), n); err != nil {
		t.Fatal(err)
	}
	if mh := maxHeld.Load(); mh > worker.DefaultMaxHeld {
		t.Fatalf("the blocked replica held %d entries, over the bound %d", mh, worker.DefaultMaxHeld)
	}
	c.requireSane()
}

// TestFailingStoreIsReportedAndRecovers: a replica whose store fails says
// why in the leader's status (invariant 10), and once the store works
// again it applies the same entries (none skipped) and the reason clears.
func TestFailingStoreIsReportedAndRecovers(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	sick := c.follower(leader)
	m := c.store(sick)
	m.FailNext(1<<30, errors.New("disk on fire"))

	r := c.write(c.prefix+".request", "UPDATE t SET a = a + [1] WHERE k = 3", messages.HeaderConsistency, "one")
	chorustest.Eventually(t, converge, func() error {
		st, err := c.status()
		if err != nil {
			return err
		}
		w, ok := statusWorker(st, sick)
		if !ok || !strings.Contains(w.Stalled, "disk on fire") || !strings.Contains(w.Stalled, fmt.Sprintf("seq %d", r.Seq)) {
			return fmt.Errorf("status of %s: %+v, want it stalled at seq %d with the store's error", sick, w, r.Seq)
		}
		return nil
	})
	if got := c.worker(sick).Applied(); got >= r.Seq {
		t.Fatalf("the failing replica applied %d", got)
	}

	m.FailNext(0, nil) // the failures end
	chorustest.Eventually(t, converge, func() error {
		st, err := c.status()
		if err != nil {
			return err
		}
		w, _ := statusWorker(st, sick)
		if w.Stalled != "" || w.Applied < r.Seq {
			return fmt.Errorf("status of %s: %+v, want it applied to seq %d and not stalled", sick, w, r.Seq)
		}
		return c.caughtUp(leader)
	})
	if err := c.sameHistories(c.ids(), 1); err != nil {
		t.Fatal(err)
	}
	c.requireSane()
}

// TestRequestHandling: bad input gets its error code before anything is
// ordered; non-deterministic functions in a write are rewritten by the
// leader to the same literal on every replica.
func TestRequestHandling(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 2)
	subject := c.prefix + ".request"
	before, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	rejected := []struct {
		name    string
		body    []byte
		headers []string
		code    messages.Code
		says    string
	}{
		{"empty", nil, nil, messages.CodeBadRequest, "empty"},
		{"blank", []byte(" \n\t "), nil, messages.CodeBadRequest, "empty"},
		{"too large", []byte("INSERT INTO t (k, a) VALUES (1, '" + strings.Repeat("x", 300<<10) + "')"), nil, messages.CodeBadRequest, "over the limit"},
		{"invalid UTF-8", []byte("INSERT INTO t (k, a) VALUES (1, '\xff')"), nil, messages.CodeBadRequest, "UTF-8"},
		{"long request id", []byte("UPDATE t SET a = a + [1] WHERE k = 1"), []string{messages.HeaderRequestID, strings.Repeat("r", 257)}, messages.CodeBadRequest, "longer than 256"},
		{"request id not UTF-8", []byte("UPDATE t SET a = a + [1] WHERE k = 1"), []string{messages.HeaderRequestID, "r\xff"}, messages.CodeBadRequest, "not valid UTF-8"},
		{"bad consistency", []byte("UPDATE t SET a = a + [1] WHERE k = 1"), []string{messages.HeaderConsistency, "most"}, messages.CodeBadRequest, "use all or one"},
		{"read level on a write", []byte("UPDATE t SET a = a + [1] WHERE k = 1"), []string{messages.HeaderConsistency, "linearizable"}, messages.CodeBadRequest, "use all or one"},
		{"write level on a read", []byte("SELECT * FROM t"), []string{messages.HeaderConsistency, "all"}, messages.CodeBadRequest, messages.ReadForms},
		{"bad min_seq", []byte("SELECT * FROM t"), []string{messages.HeaderConsistency, "min_seq:soon"}, messages.CodeBadRequest, messages.HeaderConsistency},
		{"two statements", []byte("UPDATE t SET a = a + [1] WHERE k = 1; DROP TABLE t"), nil, messages.CodeBadRequest, "more than one"},
		{"syntax", []byte("FROBNICATE t"), nil, messages.CodeBadRequest, "syntax"},
		{"other keyspace write", []byte("UPDATE server1.t SET a = a + [1] WHERE k = 1"), nil, messages.CodeIsolation, "keyspace"},
		{"other keyspace read", []byte("SELECT * FROM other.t"), nil, messages.CodeIsolation, "keyspace"},
		{"system keyspace read", []byte("SELECT * FROM system.local"), nil, messages.CodeIsolation, "system"},
		{"chorus table", []byte("UPDATE chorus_state SET applied = 0 WHERE id = 0"), nil, messages.CodeIsolation, "chorus_state"},
		{"USE", []byte("USE server1"), nil, messages.CodeBadRequest, "USE"},
		{"create keyspace", []byte("CREATE KEYSPACE evil WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"), nil, messages.CodeBadRequest, "keyspace"},
		{"the string now", []byte("INSERT INTO t (k, ts) VALUES (1, 'now')"), nil, messages.CodeNondeterministic, "'now'"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.request(subject, tc.body, 5*time.Second, tc.headers...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != messages.StatusError || r.Code != tc.code.String() || !strings.Contains(r.Error, tc.says) || r.Server == "" {
				t.Fatalf("reply %+v, want %s from a worker mentioning %q", r, tc.code, tc.says)
			}
		})
	}
	after, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	if after.LastSeq != before.LastSeq {
		t.Fatalf("rejected statements were ordered: the log went from seq %d to %d", before.LastSeq, after.LastSeq)
	}
	if err := c.sameHistories(c.ids(), 0); err != nil {
		t.Fatal(err)
	}

	// now() and friends are made literal by the leader: the same on every
	// replica, and no function call left.
	r := c.write(subject, "INSERT INTO t (k, u, at, ts) VALUES (1, uuid(), now(), currentTimestamp())")
	if err := c.sameHistories(c.ids(), 1); err != nil {
		t.Fatal(err)
	}
	got := c.store(c.ids()[0]).History()[0]
	if got.RequestID != r.RequestID || strings.Contains(got.Stmt, "()") || !strings.HasPrefix(got.Stmt, "INSERT INTO t (k, u, at, ts) VALUES (1, ") {
		t.Fatalf("applied %+v, want the statement with literal values", got)
	}

	// A retried request id is applied once and gets the original outcome
	// (invariant 5), through any worker.
	first := c.write(subject+".server0", "UPDATE t SET a = a + [7] WHERE k = 1", messages.HeaderRequestID, "retry-me")
	again := c.write(subject+".server1", "UPDATE t SET a = a + [7] WHERE k = 1", messages.HeaderRequestID, "retry-me")
	if again.Seq != first.Seq || again.Index != first.Index || first.RequestID != "retry-me" {
		t.Fatalf("retry got %+v, the original %+v", again, first)
	}
	if err := c.sameHistories(c.ids(), 2); err != nil {
		t.Fatal(err)
	}

	// A read is answered from the store (Memory answers with its history).
	rd, err := c.request(subject, []byte("SELECT * FROM t"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.MemoryWrite
	if rd.Status != messages.StatusSuccess || json.Unmarshal(rd.Rows, &rows) != nil || len(rows) != 2 || rows[1].RequestID != "retry-me" ||
		!slices.Equal(rd.Columns, []string{"seq", "index", "request_id", "stmt", "timestamp"}) {
		t.Fatalf("read: %+v", rd)
	}
	c.requireSane()
}

// TestForwardingAndFailover: a follower forwards what it receives to the
// leader; with the leader gone, a write waits for the next leader and
// commits within a few lease TTLs.
func TestForwardingAndFailover(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	via := c.follower(leader)
	r := c.write(c.prefix+".request."+via, "UPDATE t SET a = a + [1] WHERE k = 4")
	if r.Server != via {
		t.Fatalf("reply %+v, want it from %s, which received the write", r, via)
	}
	if err := c.sameHistories(c.ids(), 1); err != nil {
		t.Fatal(err)
	}

	// The leader stops; a write sent at once waits for its successor.
	c.stop(leader)
	start := time.Now()
	r2 := c.write(c.prefix+".request."+via, "UPDATE t SET a = a + [2] WHERE k = 4")
	took := time.Since(start)
	t.Logf("write committed %s after the leader stopped", took.Round(time.Millisecond))
	if took > 3*leaseTTL {
		t.Errorf("failover took %s, more than 3 lease TTLs (%s)", took, 3*leaseTTL)
	}
	next := c.waitLeader(2)
	if next == leader {
		t.Fatalf("the stopped worker %s still leads", leader)
	}
	if r2.Seq <= r.Seq {
		t.Fatalf("write after failover at seq %d, the one before at %d", r2.Seq, r.Seq)
	}
	if err := c.sameHistories(c.runningIDs(), 2); err != nil {
		t.Fatal(err)
	}

	// The old leader comes back as a follower and catches up.
	c.start(leader)
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(next) })
	if err := c.sameHistories(c.ids(), 2); err != nil {
		t.Fatal(err)
	}
	c.requireSane()
}

// TestSnapshotAndRestoreOnMemoryStores: a leader alone snapshots itself
// (on an admin's request); a worker joining later with an empty store
// restores that snapshot and ends with the same history.
func TestSnapshotAndRestoreOnMemoryStores(t *testing.T) {
	c := newMemCluster(t, 1)
	subj := messages.NewSubjects(c.prefix)
	for i := range 30 {
		c.write(subj.Request(), fmt.Sprintf("UPDATE t SET a = a + [%d] WHERE k = 1", i))
	}
	r, err := c.request(subj.Admin("snapshot"), nil, converge)
	if err != nil || r.Status != messages.StatusSuccess || r.Seq == 0 {
		t.Fatalf("snapshot by the leader alone: %+v %v", r, err)
	}
	// Without the log's beginning, only the snapshot can give a joiner
	// the first 30 writes.
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, subj.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(r.Seq)); err != nil {
		t.Fatal(err)
	}
	c.start("server1")
	c.waitLeader(2)
	c.write(subj.Request(), "UPDATE t SET a = a + [99] WHERE k = 1")
	if err := c.sameHistories([]string{"server0", "server1"}, 31); err != nil {
		t.Fatal(err)
	}
}

// TestLeaderGoneBeforeAnsweringIsHandedOverAgain: a leader that appended
// a write and stops before answering (here it waits for a replica whose
// store is blocked) leaves the client's one attempt to the worker that
// forwarded it, which hands it to the next leader under the same id: the
// client hears SUCCESS at the write's original seq, without a retry.
func TestLeaderGoneBeforeAnsweringIsHandedOverAgain(t *testing.T) {
	t.Parallel()
	// The blocked replica stays in the ACK set: the leader cannot answer.
	c := newMemClusterWith(t, 3, func(cfg *worker.Config) { cfg.AckTimeout = 10 * converge })
	leader := c.waitLeader(3)
	via := c.follower(leader)
	var slow string
	for _, id := range c.ids() {
		if id != leader && id != via {
			slow = id
		}
	}
	c.write(c.prefix+".request."+via, "UPDATE t SET a = a + [1] WHERE k = 4")
	before := c.worker(via).Applied()
	c.store(slow).Block()
	type result struct {
		r   messages.Reply
		err error
	}
	got := make(chan result, 1)
	go func() {
		// One attempt, far longer than the failover: no client retry.
		r, err := c.request(c.prefix+".request."+via, []byte("UPDATE t SET a = a + [2] WHERE k = 4"), 2*converge, messages.HeaderRequestID, "handed-over")
		got <- result{r, err}
	}()
	// The write is in the log (via applied it), accepted and watched by via.
	chorustest.Eventually(t, converge, func() error {
		if a, n := c.worker(via).Applied(), c.worker(via).Stats().Watched; a <= before || n == 0 {
			return fmt.Errorf("%s applied %d (before the write %d), watches %d writes", via, a, before, n)
		}
		return nil
	})
	select {
	case res := <-got:
		t.Fatalf("answered while %s's store is blocked: %+v %v", slow, res.r, res.err)
	default:
	}
	c.stop(leader)
	c.store(slow).Unblock()
	res := <-got
	if res.err != nil {
		t.Fatalf("no answer on the client's one attempt after the leader stopped: %v", res.err)
	}
	if res.r.Status != messages.StatusSuccess || res.r.Seq <= before || res.r.RequestID != "handed-over" {
		t.Fatalf("reply %+v, want SUCCESS after seq %d", res.r, before)
	}
	// Two writes in every history: the handed-over one applied once.
	if err := c.sameHistories(c.runningIDs(), 2); err != nil {
		t.Fatal(err)
	}
}
