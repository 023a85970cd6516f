// Package catchup measures how fast a replica catches up under load (issue
// 12, target 4): with the closed-loop load running through a cluster of
// worker processes, it stops one follower (SIGTERM) for a while, starts it
// again as it was started (command line, environment, directory and log
// file, read from /proc), and reads the workers' Prometheus metrics
// (CHORUS_METRICS_ADDR) until the follower has applied everything the
// leader had applied when it came back. bench.CatchUpOf turns the readings
// into rates.
package catchup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chorusdb/chorus/bench"
)

// Worker is one worker process of the cluster.
type Worker struct {
	ID      string
	PID     int
	Metrics string // host:port of its CHORUS_METRICS_ADDR
}

// Config of a measurement.
type Config struct {
	Workers []Worker
	Load    bench.Options // the load; its Duration is set here (it runs until the end)
	Exec    bench.Executor
	Before  time.Duration // load with every worker live before the pause, after the warmup
	Pause   time.Duration // how long the follower stays stopped
	Timeout time.Duration // longest wait for it to catch up and rejoin
	Poll    time.Duration // between readings (default 50ms)
	Log     func(format string, args ...any)
}

// Outcome is the load's result and the catch-up found under it.
type Outcome struct {
	Load    *bench.Result
	CatchUp bench.CatchUp
}

// scraped is one scrape of a worker.
type scraped struct {
	leader, ready                  bool
	applied, appliedSeq, committed float64
	live                           float64
}

// Run measures. Once it has stopped the follower it starts it again,
// whatever happens next (unless the old process would not end even by
// SIGKILL), and returns the new process (nil if none was started).
func Run(ctx context.Context, cfg Config) (*Outcome, *os.Process, error) {
	if len(cfg.Workers) < 2 {
		return nil, nil, errors.New("catchup: need at least 2 workers (a leader and a follower to stop)")
	}
	for _, w := range cfg.Workers {
		if err := isWorker(w.PID); err != nil {
			return nil, nil, fmt.Errorf("catchup: worker %s: %w", w.ID, err)
		}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 25 * time.Millisecond
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	load := cfg.Load
	load.Duration, load.Requests = 24*time.Hour, 0 // ended by cancelling
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan *bench.Result, 1)
	go func() {
		res, err := bench.Run(loadCtx, load, cfg.Exec)
		if err != nil {
			logf("load: %v", err)
		}
		loadDone <- res
	}()
	var restarted *os.Process
	finish := func(c bench.CatchUp, err error) (*Outcome, *os.Process, error) {
		stopLoad()
		res := <-loadDone
		if res != nil {
			res.Target = "chorus"
		}
		return &Outcome{Load: res, CatchUp: c}, restarted, err
	}

	// The commit rate with every worker live, before the stop.
	if !wait(ctx, load.Warmup) {
		return finish(bench.CatchUp{}, ctx.Err())
	}
	leader, err := findLeader(ctx, cfg.Workers)
	if err != nil {
		return finish(bench.CatchUp{}, err)
	}
	m0, err := scrape(ctx, leader.Metrics)
	if err != nil {
		return finish(bench.CatchUp{}, err)
	}
	t0 := time.Now()
	if !wait(ctx, cfg.Before) {
		return finish(bench.CatchUp{}, ctx.Err())
	}
	m1, err := scrape(ctx, leader.Metrics)
	if err != nil {
		return finish(bench.CatchUp{}, err)
	}
	before := (m1.committed - m0.committed) / time.Since(t0).Seconds()

	// Stop a follower, the first one by name that does not lead, with
	// SIGTERM: it leaves NATS, so the clients' requests go to the others
	// (a frozen process, SIGSTOP, would keep receiving its share of them
	// and stall every client).
	var follower Worker
	for _, w := range sorted(cfg.Workers) {
		if w.ID != leader.ID {
			follower = w
			break
		}
	}
	p, err := capture(follower.PID)
	if err != nil {
		return finish(bench.CatchUp{}, fmt.Errorf("catchup: worker %s: %w", follower.ID, err))
	}
	stopped, err := reading(ctx, follower, leader, time.Time{})
	if err != nil {
		return finish(bench.CatchUp{}, err)
	}
	logf("stopping %s (pid %d) for %s; %s leads, committing %s", follower.ID, follower.PID, cfg.Pause, leader.ID, bench.FormatRate(before))
	stopAt := time.Now()
	if err := syscall.Kill(follower.PID, syscall.SIGTERM); err != nil {
		return finish(bench.CatchUp{}, fmt.Errorf("catchup: stopping %s (pid %d): %w", follower.ID, follower.PID, err))
	}
	if err := waitExit(ctx, follower.PID, 30*time.Second); err != nil {
		// Never two processes of one worker: the old one goes first.
		_ = syscall.Kill(follower.PID, syscall.SIGKILL)
		if kerr := waitExit(context.WithoutCancel(ctx), follower.PID, 10*time.Second); kerr != nil {
			return finish(bench.CatchUp{}, fmt.Errorf("catchup: worker %s: %w, and SIGKILL did not end it", follower.ID, err))
		}
		logf("worker %s: %v; killed it", follower.ID, err)
	}
	wait(ctx, time.Until(stopAt.Add(cfg.Pause)))
	down, derr := scrape(ctx, leader.Metrics)
	restarted, err = p.start()
	if err != nil {
		return finish(bench.CatchUp{}, fmt.Errorf("catchup: starting %s again: %w", follower.ID, err))
	}
	restartAt := time.Now()
	pause := restartAt.Sub(stopAt)
	if derr != nil {
		return finish(bench.CatchUp{}, fmt.Errorf("catchup: the leader %s while %s was down: %w", leader.ID, follower.ID, derr))
	}
	logf("started %s again (pid %d) after %s", follower.ID, restarted.Pid, pause.Round(time.Millisecond))

	// Read both until the follower has applied the backlog and the leader
	// counts it live again, or the timeout.
	var after []bench.CatchUpPoint
	deadline := restartAt.Add(cfg.Timeout)
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	var caughtUp time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if pt, err := reading(ctx, follower, leader, restartAt); err == nil {
			after = append(after, pt)
			c := bench.CatchUpOf(stopped, after, len(cfg.Workers))
			if c.CaughtUp && caughtUp.IsZero() {
				caughtUp = time.Now()
			}
			// Once caught up, wait a little for the rejoin, not the whole timeout.
			if c.CaughtUp && (c.Rejoin > 0 || time.Since(caughtUp) > rejoinGrace) {
				break
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	c := bench.CatchUpOf(stopped, after, len(cfg.Workers))
	c.Worker, c.Leader, c.Pause, c.CommitRateBefore = follower.ID, leader.ID, pause.Seconds(), before
	c.CommitRateDown = (down.committed - stopped.Committed) / pause.Seconds()
	c.Points = append([]bench.CatchUpPoint{stopped}, after...)
	switch {
	case len(after) == 0:
		return finish(c, fmt.Errorf("catchup: worker %s served no metrics within %s of its restart", follower.ID, cfg.Timeout))
	case !c.CaughtUp:
		logf("%s did not apply its backlog within %s of its restart", follower.ID, cfg.Timeout)
	}
	return finish(c, nil)
}

// reading scrapes the follower and the leader, T since resumeAt.
func reading(ctx context.Context, follower, leader Worker, resumeAt time.Time) (bench.CatchUpPoint, error) {
	f, err := scrape(ctx, follower.Metrics)
	if err != nil {
		return bench.CatchUpPoint{}, fmt.Errorf("catchup: worker %s: %w", follower.ID, err)
	}
	l, err := scrape(ctx, leader.Metrics)
	if err != nil {
		return bench.CatchUpPoint{}, fmt.Errorf("catchup: the leader %s: %w", leader.ID, err)
	}
	p := bench.CatchUpPoint{Applied: f.applied, AppliedSeq: f.appliedSeq, Committed: l.committed,
		LeaderApplied: l.applied, LeaderSeq: l.appliedSeq, Live: l.live}
	if !resumeAt.IsZero() {
		p.T = time.Since(resumeAt).Seconds()
	}
	return p, nil
}

// findLeader is the worker whose metrics say it leads and serves writes.
func findLeader(ctx context.Context, ws []Worker) (Worker, error) {
	var problems []string
	for _, w := range ws {
		m, err := scrape(ctx, w.Metrics)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", w.ID, err))
		case m.leader && m.ready:
			return w, nil
		}
	}
	return Worker{}, fmt.Errorf("catchup: no worker leads and serves writes (%s)", strings.Join(problems, "; "))
}

// rejoinGrace is how long the measurement waits, once the follower has
// applied its backlog, for the leader to count it live again.
const rejoinGrace = 10 * time.Second

var httpClient = &http.Client{Timeout: 2 * time.Second}

// scrape reads the metrics of the worker serving them on addr.
func scrape(ctx context.Context, addr string) (scraped, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return scraped{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return scraped{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scraped{}, fmt.Errorf("GET http://%s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return scraped{}, fmt.Errorf("http://%s/metrics: %w", addr, err)
	}
	value := func(name string, label ...string) float64 {
		f := fams[name]
		if f == nil {
			return 0
		}
		for _, m := range f.GetMetric() {
			if len(label) == 2 && !hasLabel(m.GetLabel(), label[0], label[1]) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
		return 0
	}
	return scraped{
		leader: value("chorus_leader") == 1, ready: value("chorus_leader_ready") == 1,
		applied: value("chorus_writes_applied_total"), appliedSeq: value("chorus_applied_seq"),
		committed: value("chorus_writes_committed_total"), live: value("chorus_members", "state", "live"),
	}, nil
}

func hasLabel[L interface {
	GetName() string
	GetValue() string
}](labels []L, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// proc is how a process was started.
type proc struct {
	argv []string
	env  []string
	dir  string
	log  string // the file its output went to; "": none
}

// capture reads how pid was started from /proc.
func capture(pid int) (proc, error) {
	var p proc
	dir := fmt.Sprintf("/proc/%d/", pid)
	cmd, err := os.ReadFile(dir + "cmdline")
	if err != nil {
		return p, err
	}
	env, err := os.ReadFile(dir + "environ")
	if err != nil {
		return p, err
	}
	p.argv = strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
	p.env = strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	if p.dir, err = os.Readlink(dir + "cwd"); err != nil {
		return p, err
	}
	if out, err := os.Readlink(dir + "fd/1"); err == nil {
		if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
			p.log = out
		}
	}
	return p, nil
}

// start starts the process again, in a session of its own, its output
// appended to its log.
func (p proc) start() (*os.Process, error) {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if p.log != "" {
		f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own copy
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

// waitExit waits until pid has exited: every thread gone or a zombie (its
// parent may not have reaped it yet), so its sockets are closed.
func waitExit(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for running(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still runs %s after SIGTERM", pid, timeout)
		}
		if !wait(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

func running(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X' {
			return true
		}
	}
	return false
}

// isWorker checks that pid is a chorus-worker (not a process that reused
// a stale pid): it is about to be stopped.
func isWorker(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("no process %d: %w", pid, err)
	}
	if !strings.Contains(string(b), "chorus-worker") {
		return fmt.Errorf("process %d is not a chorus-worker: %q", pid, strings.ReplaceAll(string(b), "\x00", " "))
	}
	return nil
}

func sorted(ws []Worker) []Worker {
	out := append([]Worker(nil), ws...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// wait waits d, or until ctx ends (false).
func wait(ctx context.Context, d time.Duration) bool { return bench.RealClock{}.Sleep(ctx, d) }
