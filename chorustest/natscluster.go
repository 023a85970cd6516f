package chorustest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/natsauth"
)

var (
	natsBuildOnce sync.Once
	natsBinPath   string
	natsBuildErr  error
)

// NATSServerBinary builds nats-server, at the version go.mod pins, once per
// test process (the Go build cache makes later builds cheap).
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	natsBuildOnce.Do(func() { natsBinPath, natsBuildErr = goBuild(t, "nats-server", "github.com/nats-io/nats-server/v2") })
	if natsBuildErr != nil {
		t.Fatal(natsBuildErr)
	}
	return natsBinPath
}

// NATSCluster is a JetStream cluster of nats-server processes running the
// shipped nats-cluster.conf (roles, accounts, sync_interval always) on
// loopback ports of their own, so a test can SIGKILL, freeze and restart
// each server.
type NATSCluster struct {
	t     testing.TB
	dir   string
	Names []string // server_name of each server
	// Seed files of the generated users (the shipped roles apply).
	WorkerNKey, AdminNKey string

	client, http, route []int

	mu    sync.Mutex
	procs []*exec.Cmd
	done  []chan struct{}
}

// StartNATSCluster starts n servers and waits until each is healthy.
func StartNATSCluster(t testing.TB, n int) *NATSCluster {
	t.Helper()
	c := &NATSCluster{t: t, dir: t.TempDir(), procs: make([]*exec.Cmd, n), done: make([]chan struct{}, n)}
	c.WorkerNKey, c.AdminNKey, _, _ = copyShipped(t, c.dir, "nats-cluster.conf")
	for i := range n {
		c.Names = append(c.Names, fmt.Sprintf("chorus-%d", i+1))
		c.client = append(c.client, freePort(t))
		c.http = append(c.http, freePort(t))
		c.route = append(c.route, freePort(t))
	}
	NATSServerBinary(t)
	t.Cleanup(c.close)
	for i := range n {
		c.Start(i)
	}
	for i := range n {
		c.WaitHealthy(i, 60*time.Second)
	}
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URLs is every server's client URL, comma-separated (CHORUS_NATS_URL).
func (c *NATSCluster) URLs() string {
	var u []string
	for _, p := range c.client {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	return strings.Join(u, ",")
}

// Start starts server i (again, on the same ports and store).
func (c *NATSCluster) Start(i int) {
	c.t.Helper()
	var routes []string
	for _, p := range c.route {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, c.Names[i]+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(natsBinPath, "-c", filepath.Join(c.dir, "nats-cluster.conf"))
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(),
		"CHORUS_NATS_NAME="+c.Names[i],
		fmt.Sprintf("CHORUS_NATS_PORT=%d", c.client[i]),
		fmt.Sprintf("CHORUS_NATS_HTTP_PORT=%d", c.http[i]),
		fmt.Sprintf("CHORUS_NATS_CLUSTER_PORT=%d", c.route[i]),
		"CHORUS_NATS_STORE="+filepath.Join(c.dir, "store", c.Names[i]),
		"CHORUS_NATS_ROUTES=["+strings.Join(routes, ", ")+"]")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", c.Names[i], err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	c.mu.Lock()
	c.procs[i], c.done[i] = cmd, done
	c.mu.Unlock()
}

// Kill SIGKILLs server i and waits for it to die.
func (c *NATSCluster) Kill(i int) {
	c.mu.Lock()
	cmd, done := c.procs[i], c.done[i]
	c.procs[i] = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen process dies too
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Pause freezes server i (SIGSTOP); Resume thaws it.
func (c *NATSCluster) Pause(i int)  { c.signal(i, syscall.SIGSTOP) }
func (c *NATSCluster) Resume(i int) { c.signal(i, syscall.SIGCONT) }

func (c *NATSCluster) signal(i int, s syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[i] != nil {
		_ = c.procs[i].Process.Signal(s)
	}
}

// Index is the position of the server named name, -1 if none.
func (c *NATSCluster) Index(name string) int {
	for i, n := range c.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// WaitHealthy waits until server i's /healthz answers 200: it runs, knows
// the JetStream meta leader and is current with its streams.
func (c *NATSCluster) WaitHealthy(i int, timeout time.Duration) {
	c.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", c.http[i])
	hc := &http.Client{Timeout: 2 * time.Second}
	Eventually(c.t, timeout, func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return fmt.Errorf("%s: %v", c.Names[i], err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: /healthz %s", c.Names[i], resp.Status)
		}
		return nil
	})
}

// Conn connects to every server with role's credentials (Anonymous: the
// client role), reconnecting for ever and noticing a frozen server within
// about two seconds, as workers do.
func (c *NATSCluster) Conn(r Role) *nats.Conn {
	c.t.Helper()
	var st natsauth.Settings
	switch r {
	case AsWorker:
		st.NKey = c.WorkerNKey
	case AsAdmin:
		st.NKey = c.AdminNKey
	}
	opts, err := st.Options()
	if err != nil {
		c.t.Fatal(err)
	}
	opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.PingInterval(750*time.Millisecond), nats.MaxPingsOutstanding(2))
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		c.t.Fatalf("connecting to the NATS cluster: %v", err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// StreamInfo is what the JetStream cluster says about stream (asked over
// admin, which may read every asset of the cluster).
func StreamInfo(ctx context.Context, admin *nats.Conn, stream string) (*jetstream.StreamInfo, error) {
	js, err := jetstream.New(admin)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

func (c *NATSCluster) close() {
	for i := range c.procs {
		c.Kill(i)
	}
	logTails(c.t, c.dir, c.Names, 8000)
}
