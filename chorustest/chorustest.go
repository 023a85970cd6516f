// Package chorustest starts real Chorus clusters for tests: an in-process
// nats-server with JetStream, the Cassandra that `make up` (or
// CHORUS_CASSANDRA_HOSTS) provides, and workers running in-process. It also
// has the polling helper tests use instead of sleeps.
package chorustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// Eventually polls cond until it returns nil or timeout passes, then fails
// the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(wait) // polling pace, not a wait for correctness
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}

// StartNATS runs a nats-server with JetStream (file store, fsync always) in
// this process on a free port; dir keeps its store so it can be restarted.
func StartNATS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	opts := &server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		SyncAlways: true, NoLog: true, NoSigs: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start within 10s")
	}
	return s
}

// NATS runs a fresh nats-server with JetStream for one test and shuts it
// down at the end of the test.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	s := StartNATS(t, t.TempDir(), 0)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// JetStream connects to a fresh nats-server (NATS) for one test; the
// connection is js.Conn(), closed at the end of the test.
func JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(NATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// DeadURL is the URL of a NATS server that has shut down: nothing listens
// there, for tests of connection failures.
func DeadURL(t testing.TB) string {
	t.Helper()
	s := StartNATS(t, t.TempDir(), 0)
	url := s.ClientURL()
	s.Shutdown()
	s.WaitForShutdown()
	return url
}

// CassandraHosts returns the Cassandra to test against, failing clearly if
// none answers (integration tests need it: run them with `make test`).
func CassandraHosts(t testing.TB) []string {
	t.Helper()
	hosts := []string{"127.0.0.1:9042"}
	if v := os.Getenv("CHORUS_CASSANDRA_HOSTS"); v != "" {
		hosts = strings.Split(v, ",")
	}
	c, err := net.DialTimeout("tcp", hosts[0], 2*time.Second)
	if err != nil {
		t.Fatalf("no Cassandra at %s (%v): run the tests with `make test`, or start it with `make up`, or set CHORUS_CASSANDRA_HOSTS", hosts[0], err)
	}
	c.Close()
	return hosts
}

// RequireIntegration skips under -short: integration tests need Cassandra.
func RequireIntegration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Cassandra (run `make test`)")
	}
}

// Cluster is N workers on one NATS server and one Cassandra, with a
// subject prefix and keyspaces of its own so tests do not see each other.
type Cluster struct {
	t        testing.TB
	NATS     *server.Server
	URL      string
	Prefix   string
	Hosts    []string
	Session  *gocql.Session // direct access to Cassandra, for checks
	IDs      []string
	tag      string
	opts     []Option
	configs  map[string]worker.Config
	mu       sync.Mutex
	running  map[string]*running
	natsDir  string
	natsPort int
	secure   *SecureNATS // the shipped configuration (StartSecureCluster), or nil
	logs     io.Writer   // every worker's log, workers.log in natsDir; a failing test prints its tail
}

type running struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

// Option adjusts every worker's configuration.
type Option func(*worker.Config)

// StartCluster starts n workers server0..server{n-1} and waits until a
// leader serves writes.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	return startCluster(t, n, nil, opts)
}

func startCluster(t testing.TB, n int, secure *SecureNATS, opts []Option) *Cluster {
	t.Helper()
	RequireIntegration(t)
	hosts := CassandraHosts(t)
	c := &Cluster{t: t, Hosts: hosts, configs: map[string]worker.Config{}, running: map[string]*running{}, natsDir: t.TempDir(), secure: secure}
	c.tag = randomTag()
	c.Prefix = "t" + c.tag
	if secure != nil {
		c.NATS, c.Prefix = secure.Server, SecurePrefix
		opts = append([]Option{secure.WorkerOption()}, opts...)
	} else {
		c.NATS = StartNATS(t, c.natsDir, 0)
	}
	c.opts = opts
	c.natsPort = c.NATS.Addr().(*net.TCPAddr).Port
	c.URL = c.NATS.ClientURL()
	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = 30 * time.Second
	var err error
	if c.Session, err = cluster.CreateSession(); err != nil {
		t.Fatalf("connecting to Cassandra: %v", err)
	}
	for i := range n {
		c.configure(fmt.Sprintf("server%d", i))
	}
	c.logs = logWriter(t, c.natsDir, "workers")
	t.Cleanup(c.close)
	t.Cleanup(func() { logTails(t, c.natsDir, []string{"workers"}, 40000) }) // before close: the workers' last words
	for _, id := range c.IDs {
		c.Start(id)
	}
	c.WaitLeader(30 * time.Second)
	c.waitAllLive(30 * time.Second)
	return c
}

// waitAllLive waits until the leader counts every worker live: before that,
// a write is acknowledged without the ones still joining, and a test that
// reads from them right after would see them behind.
func (c *Cluster) waitAllLive(timeout time.Duration) {
	c.t.Helper()
	nc := c.Conn()
	Eventually(c.t, timeout, func() error {
		m, err := nc.Request(c.Prefix+".status", nil, time.Second)
		if err != nil {
			return err
		}
		var st messages.Status
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return err
		}
		live := map[string]bool{}
		for _, w := range st.Workers {
			live[w.ID] = w.Live
		}
		for _, id := range c.IDs {
			if !live[id] {
				return fmt.Errorf("%s is not live yet: %s", id, m.Data)
			}
		}
		return nil
	})
}

// configure adds worker id, with a keyspace of its own, to the cluster.
func (c *Cluster) configure(id string) {
	c.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.ID, cfg.Keyspace, cfg.NATSURL, cfg.CassandraHosts = id, "t"+c.tag+"_"+id, c.URL, c.Hosts
	cfg.ReplicationFactor, cfg.SubjectPrefix = 1, c.Prefix
	cfg.LeaseTTL, cfg.HeartbeatInterval, cfg.HeartbeatTimeout = time.Second, 100*time.Millisecond, 600*time.Millisecond
	cfg.AckTimeout, cfg.ForwardTimeout, cfg.CassandraTimeout = 5*time.Second, 15*time.Second, 10*time.Second
	cfg.DedupWindow, cfg.DedupMax = time.Hour, 100000
	for _, o := range c.opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		c.t.Fatalf("worker config: %v", err)
	}
	c.IDs = append(c.IDs, id)
	c.configs[id] = cfg
}

// AddWorker configures one more worker, id, with the options of the
// others and an empty keyspace, and starts it: a replica joining a running
// cluster. Its keyspace is dropped at cleanup like the others.
func (c *Cluster) AddWorker(id string) {
	c.t.Helper()
	if _, ok := c.configs[id]; ok {
		c.t.Fatalf("AddWorker(%q): the cluster already has a worker %s", id, id)
	}
	c.configure(id)
	c.Start(id)
}

func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Keyspace is worker id's keyspace.
func (c *Cluster) Keyspace(id string) string { return c.configs[id].Keyspace }

// Start starts (or restarts) worker id in this process.
func (c *Cluster) Start(id string) {
	c.t.Helper()
	cfg := c.configs[id]
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("worker", id)
	w, err := worker.New(ctx, cfg, log, worker.CassandraOpener(cfg, log))
	if err != nil {
		cancel()
		c.t.Fatalf("starting %s: %v", id, err)
	}
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := w.Run(ctx)
		if err != nil { // a test that waits on this worker then fails with this in its log tail
			log.Error("worker ended with an error", "err", err)
		}
		r.done <- err
	}()
	c.mu.Lock()
	c.running[id] = r
	c.mu.Unlock()
}

// Stop stops worker id and waits for it to end.
func (c *Cluster) Stop(id string) {
	c.mu.Lock()
	r := c.running[id]
	delete(c.running, id)
	c.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		c.t.Errorf("worker %s did not stop within 30s", id)
	}
}

// Worker is the running worker id, or nil.
func (c *Cluster) Worker(id string) *worker.Worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.running[id]; r != nil {
		return r.w
	}
	return nil
}

// Conn opens a NATS connection to the cluster, closed at cleanup.
func (c *Cluster) Conn() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.URL, append([]nats.Option{nats.MaxReconnects(-1)}, c.clientOptions()...)...)
	if err != nil {
		c.t.Fatalf("connecting to NATS: %v", err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// WaitLeader waits until a leader answers status as ready.
func (c *Cluster) WaitLeader(timeout time.Duration) {
	c.t.Helper()
	nc := c.Conn()
	Eventually(c.t, timeout, func() error {
		m, err := nc.Request(c.Prefix+".status", nil, time.Second)
		if err != nil {
			return fmt.Errorf("no leader yet: %v", err)
		}
		if !strings.Contains(string(m.Data), `"leader":"server`) {
			return fmt.Errorf("status: %s", m.Data)
		}
		return nil
	})
}

func (c *Cluster) close() {
	for _, id := range c.IDs {
		c.Stop(id)
	}
	for _, id := range c.IDs {
		_ = c.Session.Query(`DROP KEYSPACE IF EXISTS "` + c.Keyspace(id) + `"`).Exec()
	}
	c.Session.Close()
	c.NATS.Shutdown()
	c.NATS.WaitForShutdown()
}
