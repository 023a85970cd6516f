package catchup

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
)

// scrape reads what a worker's metrics handler serves: the names it looks
// for are the worker's.
func TestScrapeReadsWorkerMetrics(t *testing.T) {
	m := metrics.New("server1", func() metrics.State {
		return metrics.State{Applied: 42, Leading: true, LeaderReady: true, Members: map[string]int{messages.StateLive: 3, messages.StateOut: 1}}
	})
	now := time.Now()
	for range 5 {
		m.WriteAnswered(messages.CodeOK, now, now)
	}
	m.Applied(2, 7, time.Millisecond, nil)
	srv := httptest.NewServer(metrics.Handler(m, func() (bool, string) { return true, "ok" }, func() (bool, string) { return true, "ok" }))
	defer srv.Close()
	got, err := scrape(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	want := scraped{leader: true, ready: true, applied: 7, appliedSeq: 42, committed: 5, live: 3}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := scrape(context.Background(), "127.0.0.1:1"); err == nil {
		t.Fatal("scraped nothing without an error")
	}
}

// TestHelperProcess is the process of TestCaptureAndStartAgain: it says
// where it runs, then waits to be stopped.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CATCHUP_TEST") == "" {
		t.Skip("the helper process of TestCaptureAndStartAgain")
	}
	wd, _ := os.Getwd()
	fmt.Printf("started %s in %s\n", os.Getenv("CATCHUP_TEST"), wd)
	time.Sleep(time.Minute) // stopped by SIGTERM long before
	os.Exit(0)
}

// A process stopped with SIGTERM is started again as it was: the same
// command line, environment, directory and log file.
func TestCaptureAndStartAgain(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "out.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestHelperProcess$")
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = []string{"CATCHUP_TEST=yes"}, dir, f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	started := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(logPath)
			if strings.Count(string(b), "started yes in "+dir) == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d starts in the log: %q", n, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	started(1)
	if err := isWorker(cmd.Process.Pid); err == nil || !strings.Contains(err.Error(), "not a chorus-worker") {
		t.Fatalf("isWorker(the helper) = %v", err)
	}
	p, err := capture(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.dir != dir || p.log != logPath || len(p.argv) != 2 || p.argv[0] != self || len(p.env) != 1 || p.env[0] != "CATCHUP_TEST=yes" {
		t.Fatalf("captured %+v", p)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(context.Background(), cmd.Process.Pid, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	again, err := p.start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Kill(); _, _ = again.Wait() })
	started(2)
	if !running(again.Pid) {
		t.Fatal("the restarted process is not running")
	}
}
