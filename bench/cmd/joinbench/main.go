// Command joinbench measures how long a new worker takes to join a cluster
// as a function of the history's length: by replaying the whole log, and by
// restoring a snapshot (package bench/join). It prints a Markdown table and
// can write its report as JSON for benchreport (`make bench`).
//
//	joinbench [-history 100000,1000000] [-json FILE] [-v]
//
// It starts its own NATS server (in-process, JetStream in a temporary
// directory) and uses the Cassandra of CHORUS_CASSANDRA_HOSTS (default
// 127.0.0.1:9042), in keyspaces of its own that it drops at the end.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/bench/join"
	"github.com/chorusdb/chorus/worker"
)

func main() {
	cfg := join.DefaultConfig()
	history := flag.String("history", "100000,1000000", "history lengths to measure, in writes, comma-separated")
	flag.IntVar(&cfg.Keys, "keys", cfg.Keys, "the fixed set of keys the writes overwrite")
	flag.IntVar(&cfg.PerOrder, "per-order", cfg.PerOrder, "writes per crafted ORDER (group commit)")
	flag.Uint64Var(&cfg.Retain, "retain", cfg.Retain, "CHORUS_LOG_RETAIN of the workers: log entries kept behind the snapshot")
	flag.DurationVar(&cfg.DedupWindow, "dedup-window", 0, "CHORUS_DEDUP_WINDOW of the workers (default: the workers' default)")
	flag.DurationVar(&cfg.PhaseTimeout, "timeout", cfg.PhaseTimeout, "longest wait for one join or snapshot")
	jsonOut := flag.String("json", "", "also write the report as JSON to this file (for benchreport)")
	flag.DurationVar(&cfg.SnapshotTimeout, "snapshot-timeout", cfg.SnapshotTimeout, "CHORUS_SNAPSHOT_TIMEOUT of the workers (a snapshot not done by then is asked for once more)")
	verbose := flag.Bool("v", false, "show the workers' logs on stderr")
	workerLog := flag.String("worker-log", "", "append the workers' logs to this file")
	flag.Parse()

	var lengths []int
	for _, f := range strings.Split(*history, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-history: %q is not a positive number of writes", f))
		}
		lengths = append(lengths, n)
	}
	if v := os.Getenv("CHORUS_CASSANDRA_HOSTS"); v != "" {
		cfg.Hosts = strings.Split(v, ",")
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("prog", "joinbench")
	switch {
	case *verbose:
		cfg.WorkerLog = os.Stderr
	case *workerLog != "":
		f, err := os.OpenFile(*workerLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		cfg.WorkerLog = f
	}
	window := cfg.DedupWindow
	if window == 0 {
		window = worker.DefaultConfig().DedupWindow
	}
	rep := &bench.JoinReport{
		Started: time.Now().UTC().Format(time.RFC3339), Keys: cfg.Keys, PerOrder: cfg.PerOrder, Retain: cfg.Retain,
		DefaultRetain: worker.DefaultConfig().LogRetain,
		DedupWindow:   window.String(), LoadBefore: loadavg(), Command: command(),
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := false
	for _, n := range lengths {
		res, err := join.Run(ctx, cfg, n)
		if err != nil {
			cfg.Log.Error("run failed", "writes", n, "err", err)
			res.Error, failed = err.Error(), true
		}
		rep.Results = append(rep.Results, res)
		if ctx.Err() != nil {
			break
		}
	}
	rep.LoadAfter = loadavg()
	if err := bench.WriteJoinTable(os.Stdout, rep); err != nil {
		fail(err)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fail(err)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// command is how to run this measurement again: the flags that change it.
func command() string {
	cmd := "go run ./bench/cmd/joinbench"
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "json" && f.Name != "v" && f.Name != "worker-log" {
			cmd += fmt.Sprintf(" -%s %s", f.Name, f.Value)
		}
	})
	return cmd
}

func loadavg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if fs := strings.Fields(string(b)); len(fs) >= 3 {
		return strings.Join(fs[:3], " ")
	}
	return ""
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "joinbench:", err)
	os.Exit(2)
}
