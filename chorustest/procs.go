package chorustest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// WorkerBinary builds cmd/chorus-worker once per test process.
func WorkerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binPath, buildErr = goBuild(t, "chorus-worker", "./cmd/chorus-worker") })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// goBuild builds pkg of the repository's module into a new temporary
// directory as name and returns its path.
func goBuild(t testing.TB, name, pkg string) (string, error) {
	dir, err := os.MkdirTemp("", "chorus-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", name, err, out)
	}
	return path, nil
}

// Procs is a cluster of chorus-worker processes (so they can be killed,
// frozen and restarted) on an in-process nats-server that can itself be
// restarted, and the shared Cassandra.
type Procs struct {
	t        testing.TB
	NATS     *server.Server
	URL      string
	Prefix   string
	Session  *gocql.Session
	IDs      []string
	Env      map[string]string // extra CHORUS_* settings for every worker
	tag      string
	dir      string
	natsDir  string
	natsPort int
	hosts    []string
	cluster  *NATSCluster // the NATS cluster the workers run on, if not p.NATS

	mu    sync.Mutex
	procs map[string]*proc
}

type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	log    *os.File
	paused bool
}

// StartProcs starts n worker processes server0..server{n-1}.
func StartProcs(t testing.TB, n int, env map[string]string) *Procs {
	t.Helper()
	return startProcs(t, n, env, nil)
}

// StartProcsOn starts n worker processes on the NATS cluster nc, as workers
// of the shipped roles (prefix db, the worker nkey), with the log, lease and
// snapshots replicated on every server.
func StartProcsOn(t testing.TB, nc *NATSCluster, n int, env map[string]string) *Procs {
	t.Helper()
	all := map[string]string{"CHORUS_NATS_NKEY": nc.WorkerNKey, "CHORUS_LOG_REPLICAS": fmt.Sprint(len(nc.Names))}
	for k, v := range env {
		all[k] = v
	}
	return startProcs(t, n, all, nc)
}

func startProcs(t testing.TB, n int, env map[string]string, on *NATSCluster) *Procs {
	t.Helper()
	RequireIntegration(t)
	p := &Procs{t: t, hosts: CassandraHosts(t), tag: randomTag(), dir: t.TempDir(), procs: map[string]*proc{}, Env: env}
	if on != nil {
		p.Prefix, p.URL, p.cluster = SecurePrefix, on.URLs(), on
	} else {
		p.Prefix = "p" + p.tag
		p.natsDir = filepath.Join(p.dir, "nats")
		p.NATS = StartNATS(t, p.natsDir, 0)
		p.natsPort = p.NATS.Addr().(*net.TCPAddr).Port
		p.URL = p.NATS.ClientURL()
	}
	cluster := gocql.NewCluster(p.hosts...)
	cluster.Timeout = 30 * time.Second
	var err error
	if p.Session, err = cluster.CreateSession(); err != nil {
		t.Fatalf("connecting to Cassandra: %v", err)
	}
	WorkerBinary(t)
	for i := range n {
		p.IDs = append(p.IDs, fmt.Sprintf("server%d", i))
	}
	t.Cleanup(p.close)
	for _, id := range p.IDs {
		p.Start(id)
	}
	return p
}

// Keyspace is worker id's keyspace.
func (p *Procs) Keyspace(id string) string { return "p" + p.tag + "_" + id }

// Start starts worker id (again).
func (p *Procs) Start(id string) {
	p.t.Helper()
	env := append(os.Environ(),
		"CHORUS_ID="+id, "CHORUS_KEYSPACE="+p.Keyspace(id), "CHORUS_NATS_URL="+p.URL,
		"CHORUS_CASSANDRA_HOSTS="+strings.Join(p.hosts, ","), "CHORUS_SUBJECT_PREFIX="+p.Prefix,
		"CHORUS_LEASE_TTL=2s", "CHORUS_HEARTBEAT_INTERVAL=100ms", "CHORUS_HEARTBEAT_TIMEOUT=1s",
		"CHORUS_ACK_TIMEOUT=3s", "CHORUS_FORWARD_TIMEOUT=20s", "CHORUS_LOG_LEVEL=debug")
	for k, v := range p.Env {
		env = append(env, k+"="+v)
	}
	logf, err := os.OpenFile(filepath.Join(p.dir, id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- start %s at %s\n", id, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binPath)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", id, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(pr.done) }()
	p.mu.Lock()
	p.procs[id] = pr
	p.mu.Unlock()
}

func (p *Procs) get(id string) *proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procs[id]
}

// Kill SIGKILLs worker id and waits for it to die.
func (p *Procs) Kill(id string) {
	pr := p.get(id)
	if pr == nil {
		return
	}
	_ = pr.cmd.Process.Signal(syscall.SIGKILL)
	<-pr.done
	p.forget(id, pr)
}

func (p *Procs) forget(id string, pr *proc) {
	pr.log.Close()
	p.mu.Lock()
	delete(p.procs, id)
	p.mu.Unlock()
}

// Stop SIGTERMs worker id and waits for it to exit.
func (p *Procs) Stop(id string) {
	pr := p.get(id)
	if pr == nil {
		return
	}
	if pr.paused {
		_ = pr.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(20 * time.Second):
		p.t.Errorf("%s ignored SIGTERM for 20s; killing it", id)
		_ = pr.cmd.Process.Signal(syscall.SIGKILL)
		<-pr.done
	}
	p.forget(id, pr)
}

// Exited reports whether worker id's process ended by itself, and its exit code.
func (p *Procs) Exited(id string) (bool, int) {
	pr := p.get(id)
	if pr == nil {
		return true, -1
	}
	select {
	case <-pr.done:
		return true, pr.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Pause freezes worker id (SIGSTOP); Resume thaws it (SIGCONT).
func (p *Procs) Pause(id string) {
	if pr := p.get(id); pr != nil {
		_ = pr.cmd.Process.Signal(syscall.SIGSTOP)
		pr.paused = true
	}
}

// Resume thaws a paused worker.
func (p *Procs) Resume(id string) {
	if pr := p.get(id); pr != nil {
		_ = pr.cmd.Process.Signal(syscall.SIGCONT)
		pr.paused = false
	}
}

// Running reports whether worker id has a live process.
func (p *Procs) Running(id string) bool { return p.get(id) != nil }

// RestartNATS stops the nats-server and starts it again on the same port
// with the same JetStream store.
func (p *Procs) RestartNATS() {
	p.t.Helper()
	p.NATS.Shutdown()
	p.NATS.WaitForShutdown()
	p.NATS = StartNATS(p.t, p.natsDir, p.natsPort)
}

// Conn is a NATS connection to the cluster that survives NATS restarts
// (on a NATS cluster: an admin's, which may also read the log).
func (p *Procs) Conn() *nats.Conn {
	p.t.Helper()
	if p.cluster != nil {
		return p.cluster.Conn(AsAdmin)
	}
	nc, err := nats.Connect(p.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		p.t.Fatalf("connecting to NATS: %v", err)
	}
	p.t.Cleanup(nc.Close)
	return nc
}

// Status asks the leader for the cluster status.
func (p *Procs) Status(nc *nats.Conn) (messages.Status, error) {
	var st messages.Status
	m, err := nc.Request(p.Prefix+".status", nil, time.Second)
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(m.Data, &st)
	return st, err
}

// WaitLeader waits for a leader other than not (if given) and returns it.
func (p *Procs) WaitLeader(nc *nats.Conn, timeout time.Duration, not string) string {
	p.t.Helper()
	var leader string
	Eventually(p.t, timeout, func() error {
		st, err := p.Status(nc)
		if err != nil {
			return fmt.Errorf("no leader: %v", err)
		}
		if st.Leader == "" || st.Leader == not {
			return fmt.Errorf("leader %q", st.Leader)
		}
		leader = st.Leader
		return nil
	})
	return leader
}

// Logs returns worker id's log so far.
func (p *Procs) Logs(id string) string {
	b, _ := os.ReadFile(filepath.Join(p.dir, id+".log"))
	return string(b)
}

func (p *Procs) close() {
	for _, id := range p.IDs {
		p.Stop(id)
	}
	logTails(p.t, p.dir, p.IDs, 20000)
	for _, id := range p.IDs {
		_ = p.Session.Query(`DROP KEYSPACE IF EXISTS "` + p.Keyspace(id) + `"`).Exec()
	}
	p.Session.Close()
	if p.NATS != nil {
		p.NATS.Shutdown()
		p.NATS.WaitForShutdown()
	}
}

// ReadLog returns every entry of the ORDER log, decoded where possible.
func (p *Procs) ReadLog(ctx context.Context, nc *nats.Conn) ([]messages.Order, error) {
	js, err := jetstreamNew(nc)
	if err != nil {
		return nil, err
	}
	return readAll(ctx, js, messages.NewSubjects(p.Prefix).StreamName())
}

// keepLogs copies the logs of names (in dir, as name.log) into
// $CHORUS_TEST_KEEP_LOGS/<test name>/ when that is set: to read a run that
// passed, or all of one that failed.
func keepLogs(t testing.TB, dir string, names []string) {
	keep := os.Getenv("CHORUS_TEST_KEEP_LOGS")
	if keep == "" {
		return
	}
	to := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Logf("keeping logs: %v", err)
		return
	}
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n+".log")); err == nil {
			_ = os.WriteFile(filepath.Join(to, n+".log"), b, 0o644)
		}
	}
	t.Logf("logs kept in %s", to)
}
