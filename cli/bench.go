package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

const envCassandraHosts = "CHORUS_CASSANDRA_HOSTS"

var benchCommand = &command{
	name:    "bench",
	args:    "",
	summary: "measure throughput and latency of writes through the cluster",
	detail: `
Drives a workload of writes through the cluster and reports throughput (successful
writes per second), latency p50/p90/p99/max and errors by kind. The workload mixes
list appends on --keys keys
  UPDATE bench_list SET events = events + [S] WHERE id = K
with INSERTs of new rows into a wide table bench_wide (id bigint, a int, b text,
c double, d timestamp) and UPDATEs of its regular columns on --keys rows
  UPDATE bench_wide SET a = .., b = .., c = .., d = .. WHERE id = K
--mix is the fraction of appends, --updates the fraction of the others that are
UPDATEs. --workload picks a preset (--keys, --mix and --updates still override it):
  mixed       100 keys, half appends, half INSERTs (the default)
  append      list appends only, 64 keys
  idempotent  half INSERTs, half UPDATEs of 64 rows (no list appends)
Values are literals generated from the operation's number: deterministic, no now()
or uuid().

Closed loop (default): --concurrency clients each send the next write when the
previous one is answered; this finds the peak. Open loop (--rate R): writes are sent
at R per second whatever the replies, at most --max-inflight outstanding (more are
dropped and counted); latency counts from the scheduled send time, so queueing is
measured, not hidden. Writes during --warmup are not counted.

--direct runs the same statements on Cassandra with gocql into one keyspace
(--keyspace, created with replication factor 1): the ceiling of one replica. With N
replicas on one machine every write is applied N times, so Chorus's bound is
direct ÷ N; --compare runs --direct and then Chorus with the same flags and prints
ratio = Chorus ÷ direct, and Chorus ÷ (direct ÷ N), N being --replicas or the
leader's live replicas. With --rate, both run open loop at that same rate.

--drop cleans up instead: it drops the keyspaces listed in --keyspace (comma-
separated) and, unless the prefix is the default "db", the prefix's ORDER stream,
changes stream, lease bucket and snapshot store in NATS (stop the prefix's workers
first).

Progress goes to standard error (one line rewritten on a terminal); the report to
standard output, as JSON with --json. Exit status 1 if a run completed no write.

examples:
  chorus bench --duration 15s
  chorus bench --compare --json > result.json
  chorus bench --rate 500 --duration 30s --plot latency.svg
  chorus --prefix bench1 bench --drop --keyspace bench1_server0,bench1_server1`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		f := &benchFlags{}
		f.register(fs)
		return func(e *env, g *globals, args []string) int {
			if len(args) > 0 {
				return usageError(e, "bench", "unexpected arguments: %s", strings.Join(args, " "))
			}
			f.set = map[string]bool{}
			fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
			return f.run(e, g)
		}
	},
}

// benchFlags are the flags of chorus bench.
type benchFlags struct {
	concurrency int
	duration    time.Duration
	requests    int64
	warmup      time.Duration
	rate        float64
	maxInFlight int
	workload    string
	keys        int
	mix         float64
	updates     float64
	timeout     time.Duration
	consistency string
	jsonOut     bool
	plot        string
	label       string
	quiet       bool
	direct      bool
	compare     bool
	cassandra   string
	keyspace    string
	setup       bool
	replicas    int
	drop        bool
	cpuPids     string
	storePids   string

	set map[string]bool // flags given on the command line
}

func (f *benchFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.concurrency, "concurrency", bench.DefaultConcurrency, "`clients` sending back to back (closed loop)")
	fs.DurationVar(&f.duration, "duration", bench.DefaultDuration, "measure for this `duration` after the warmup")
	fs.Int64Var(&f.requests, "requests", 0, "measure this many `requests` instead of a duration")
	fs.DurationVar(&f.warmup, "warmup", bench.DefaultWarmup, "load for this `duration` before measuring")
	fs.Float64Var(&f.rate, "rate", 0, "open loop: send this many `writes/s` whatever the replies (0: closed loop)")
	fs.IntVar(&f.maxInFlight, "max-inflight", bench.DefaultMaxInFlight, "open loop: at most this many `writes` outstanding; more are dropped")
	fs.StringVar(&f.workload, "workload", bench.DefaultWorkload.Name, "preset `name`: "+bench.WorkloadNames)
	fs.IntVar(&f.keys, "keys", bench.DefaultWorkload.Keys, "`keys` the appends and UPDATEs go to (default: the preset's)")
	fs.Float64Var(&f.mix, "mix", bench.DefaultWorkload.Mix, "`fraction` of list appends (default: the preset's)")
	fs.Float64Var(&f.updates, "updates", bench.DefaultWorkload.Updates, "`fraction` of the other writes that are UPDATEs, the rest INSERTs (default: the preset's)")
	fs.DurationVar(&f.timeout, "timeout", bench.DefaultTimeout, "give one write up after this `duration` (retries included)")
	fs.StringVar(&f.consistency, "consistency", "all", "replicas to wait for, `level` all or one")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fs.StringVar(&f.plot, "plot", "", "write the latency distribution to this SVG `file`")
	fs.StringVar(&f.label, "label", "", "a `name` for the report (in the JSON)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress display")
	fs.BoolVar(&f.direct, "direct", false, "run the statements directly on Cassandra (gocql), not through Chorus")
	fs.BoolVar(&f.compare, "compare", false, "run --direct, then through Chorus, and print the ratio")
	fs.StringVar(&f.cassandra, "cassandra", "127.0.0.1:9042", "Cassandra `hosts` for --direct, comma-separated (env "+envCassandraHosts+")")
	fs.StringVar(&f.keyspace, "keyspace", "chorus_bench", "`keyspace` of --direct (created if missing), or the keyspaces to --drop")
	fs.BoolVar(&f.setup, "setup", true, "create the tables through Chorus first (IF NOT EXISTS)")
	fs.IntVar(&f.replicas, "replicas", 0, "`N` replicas for the ratio (0: ask the leader how many are live)")
	fs.StringVar(&f.cpuPids, "cpu-pids", "", "report the CPU time these comma-separated process `ids` (the workers, NATS) use during Chorus's measured run, per write (Linux)")
	fs.StringVar(&f.storePids, "store-pids", "", "report the CPU time these comma-separated process `ids` (Cassandra) use during each measured run, direct and Chorus alike, per write, and how busy the machine is (Linux)")
	fs.BoolVar(&f.drop, "drop", false, "clean up and exit: drop the --keyspace keyspaces and the prefix's log")
}

// options checks the flags and returns the run's options.
func (f *benchFlags) options() (bench.Options, error) {
	var errs []string
	if f.set["requests"] && f.set["duration"] {
		errs = append(errs, "give --duration or --requests, not both")
	}
	duration := f.duration
	if f.requests != 0 {
		duration = 0
	}
	if f.direct && f.compare {
		errs = append(errs, "--compare already runs --direct; give one of them")
	}
	if _, ok := messages.ParseConsistency(f.consistency); !ok {
		errs = append(errs, fmt.Sprintf("--consistency must be all or one, not %q", f.consistency))
	}
	if f.plot != "" && !strings.EqualFold(filepath.Ext(f.plot), ".svg") {
		errs = append(errs, fmt.Sprintf("--plot writes SVG: the file name must end in .svg, not %q", f.plot))
	}
	if _, err := bench.ParsePids(f.cpuPids); err != nil {
		errs = append(errs, "--cpu-pids: "+err.Error())
	}
	storePids, err := bench.ParsePids(f.storePids)
	if err != nil {
		errs = append(errs, "--store-pids: "+err.Error())
	}
	if f.replicas < 0 {
		errs = append(errs, fmt.Sprintf("--replicas must not be negative, got %d", f.replicas))
	}
	if f.direct || f.compare {
		if err := bench.ValidKeyspace(f.keyspace); err != nil {
			errs = append(errs, "--keyspace: "+err.Error())
		}
	}
	w, ok := bench.Workloads[f.workload]
	if !ok {
		errs = append(errs, fmt.Sprintf("--workload must be %s, not %q", bench.WorkloadNames, f.workload))
	}
	if f.set["keys"] {
		w.Keys = f.keys
	}
	if f.set["mix"] {
		w.Mix = f.mix
	}
	if f.set["updates"] {
		w.Updates = f.updates
	}
	o := bench.Options{
		Concurrency: f.concurrency, Duration: duration, Requests: f.requests, Warmup: f.warmup,
		Rate: f.rate, MaxInFlight: f.maxInFlight, Timeout: f.timeout, Workload: w, StorePids: storePids,
	}
	if err := o.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errs = append(errs, flagNames.Replace(line))
		}
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return o, nil
}

// flagNames turns bench.Options' field names into the flags that set them.
var flagNames = strings.NewReplacer(
	"concurrency must", "--concurrency must", "duration must", "--duration must",
	"requests must", "--requests must", "warmup must", "--warmup must", "rate must", "--rate must",
	"max in-flight must", "--max-inflight must", "timeout must", "--timeout must",
	"keys must", "--keys must", "mix must", "--mix must", "updates must", "--updates must",
	"give a duration or a number of requests", "give --duration or --requests")

func (f *benchFlags) hosts(e *env) []string {
	v := f.cassandra
	if !f.set["cassandra"] {
		if h := e.getenv(envCassandraHosts); h != "" {
			v = h
		}
	}
	var hosts []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func (f *benchFlags) run(e *env, g *globals) int {
	if f.drop {
		return f.runDrop(e, g)
	}
	o, err := f.options()
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(e.stderr, "chorus bench: %s\n", line)
		}
		fmt.Fprintln(e.stderr, `run "chorus help bench" for usage`)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rep := &bench.Report{Label: f.label, Time: time.Now().UTC().Format(time.RFC3339), Settings: bench.SettingsOf(o)}
	if f.direct || f.compare {
		rep.Settings.Cassandra, rep.Settings.Keyspace = strings.Join(f.hosts(e), ","), f.keyspace
		res, code := f.runDirect(ctx, e, o)
		if code != exitOK {
			return code
		}
		rep.Runs = append(rep.Runs, res)
	}
	if !f.direct && ctx.Err() == nil {
		rep.Settings.NATS, rep.Settings.Prefix, rep.Settings.Consistency = g.natsURL, g.prefix, f.consistency
		res, replicas, code := f.runChorus(ctx, e, g, o)
		if code != exitOK {
			return code
		}
		rep.Runs = append(rep.Runs, res)
		rep.Replicas = replicas
		if f.compare {
			rep.Compare = bench.Compare(rep.Run("direct").Throughput, res.Throughput, replicas)
			if rep.Compare == nil {
				rep.Notes = append(rep.Notes, "no ratio: the number of replicas is unknown (give --replicas)")
			}
		}
	}

	if f.plot != "" {
		if err := writePlot(f.plot, rep); err != nil {
			fmt.Fprintf(e.stderr, "chorus bench: writing the plot: %v\n", err)
			return exitFail
		}
		if !f.jsonOut {
			rep.Notes = append(rep.Notes, "latency plot written to "+f.plot)
		}
	}
	if f.jsonOut {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		_ = bench.WriteText(e.stdout, rep)
	}
	for _, r := range rep.Runs {
		if r.OK == 0 {
			return exitFail
		}
	}
	return exitOK
}

func (f *benchFlags) progress(e *env, o bench.Options, label string) bench.Options {
	if f.quiet {
		return o
	}
	pp := &bench.ProgressPrinter{W: e.stderr, TTY: isTerminal(e.stderr), Label: label}
	o.Progress = pp.Update
	if !pp.TTY {
		o.ProgressEvery = time.Second // the printer keeps one line in five seconds
	}
	return o
}

func (f *benchFlags) runDirect(ctx context.Context, e *env, o bench.Options) (*bench.Result, int) {
	hosts := f.hosts(e)
	if len(hosts) == 0 {
		return nil, usageError(e, "bench", "--cassandra names no host")
	}
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	d, err := bench.OpenDirect(setupCtx, bench.DirectOptions{Hosts: hosts, Keyspace: f.keyspace, Timeout: o.Timeout})
	cancel()
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitFail
	}
	defer d.Close()
	res, err := bench.Run(ctx, f.progress(e, o, "direct"), d)
	if err != nil {
		fmt.Fprintf(e.stderr, "chorus bench: %v\n", err)
		return nil, exitFail
	}
	res.Target = "direct"
	return res, exitOK
}

func (f *benchFlags) runChorus(ctx context.Context, e *env, g *globals, o bench.Options) (*bench.Result, int, int) {
	c, code := dial(e, g)
	if code != exitOK {
		return nil, 0, code
	}
	defer c.Close()
	cons, _ := messages.ParseConsistency(f.consistency)
	ex := bench.Chorus{Client: c, Opts: []client.Option{client.WithConsistency(cons)}}
	if f.setup {
		if err := ex.Setup(ctx, o.Timeout); err != nil {
			printError(e, err)
			return nil, 0, exitFail
		}
	}
	replicas := f.replicas
	if replicas == 0 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := bench.LiveReplicas(sctx, c)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "chorus bench: cannot count the live replicas (give --replicas): %v\n", err)
		}
		replicas = n
	}
	o.CPUPids, _ = bench.ParsePids(f.cpuPids) // checked in options
	res, err := bench.Run(ctx, f.progress(e, o, "chorus"), ex)
	if err != nil {
		fmt.Fprintf(e.stderr, "chorus bench: %v\n", err)
		return nil, 0, exitFail
	}
	res.Target = "chorus"
	return res, replicas, exitOK
}

func (f *benchFlags) runDrop(e *env, g *globals) int {
	var keyspaces []string
	if f.set["keyspace"] {
		for _, ks := range strings.Split(f.keyspace, ",") {
			if ks = strings.TrimSpace(ks); ks != "" {
				keyspaces = append(keyspaces, ks)
			}
		}
	}
	for _, ks := range keyspaces {
		if err := bench.ValidKeyspace(ks); err != nil {
			return usageError(e, "bench", "--drop: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := exitOK
	if len(keyspaces) > 0 {
		if err := bench.DropKeyspaces(ctx, f.hosts(e), f.timeout, keyspaces); err != nil {
			fmt.Fprintln(e.stderr, err)
			code = exitFail
		} else {
			fmt.Fprintf(e.stdout, "dropped keyspaces %s\n", strings.Join(keyspaces, ", "))
		}
	}
	if g.prefix == client.DefaultPrefix {
		fmt.Fprintf(e.stdout, "kept the log of the default prefix %q (only a --prefix of its own is dropped)\n", g.prefix)
		return code
	}
	url, auth, err := g.auth.resolve(g.natsURL, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "chorus bench: %v\n", err)
		return exitUsage
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("chorus-bench")}, auth...)...)
	if err != nil {
		fmt.Fprintf(e.stderr, "chorus bench: connecting to NATS at %s: %v\n", url, err)
		return exitFail
	}
	defer nc.Close()
	deleted, err := bench.DropLog(ctx, nc, g.prefix)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		code = exitFail
	}
	if len(deleted) > 0 {
		fmt.Fprintf(e.stdout, "deleted %s\n", strings.Join(deleted, ", "))
	}
	return code
}

// writePlot writes the latency distributions of rep's runs as SVG.
func writePlot(path string, rep *bench.Report) error {
	var series []bench.Series
	for _, r := range rep.Runs {
		if r.OK > 0 {
			series = append(series, bench.SeriesOf(r.Target, r))
		}
	}
	title := "chorus bench: latency"
	if rep.Label != "" {
		title += " (" + rep.Label + ")"
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := bench.WriteLatencySVG(out, title, series, nil); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// isTerminal reports whether w is a terminal (for the progress display).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
