// Command catchupbench measures a replica catching up under load (package
// bench/catchup) on a cluster of worker processes serving their metrics,
// and reports like `chorus bench --json`, with the catch-up in "catch_up".
// `make bench` runs it on its 3-worker cluster:
//
//	catchupbench -nats URL -prefix P -worker server0,PID,127.0.0.1:19460 -worker ... -pause 10s -pidfile F -json
//
// The stopped worker is started again by catchupbench (as it was started),
// so its pid changes: -pidfile says the new one, for whoever stops it later.
//
// NATS credentials come from the variables chorus-worker reads
// (CHORUS_NATS_CREDS, _NKEY, _USER and _PASSWORD, _TOKEN, _TLS_CA, _TLS_CERT, _TLS_KEY).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/bench/catchup"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/natsauth"
)

type workers []catchup.Worker

func (w *workers) String() string { return fmt.Sprint(*w) }
func (w *workers) Set(v string) error {
	f := strings.SplitN(v, ",", 3)
	if len(f) != 3 {
		return fmt.Errorf("want ID,PID,HOST:PORT, got %q", v)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid < 1 {
		return fmt.Errorf("%q is not a pid", f[1])
	}
	*w = append(*w, catchup.Worker{ID: f[0], PID: pid, Metrics: f[2]})
	return nil
}

func main() {
	var cfg catchup.Config
	var ws workers
	o := bench.Options{Timeout: bench.DefaultTimeout}
	url := flag.String("nats", "nats://127.0.0.1:4222", "NATS `URL`")
	prefix := flag.String("prefix", client.DefaultPrefix, "the cluster's subject `prefix`")
	flag.Var(&ws, "worker", "a worker process: `ID,PID,HOST:PORT` of its metrics (repeat for each)")
	flag.DurationVar(&cfg.Pause, "pause", 10*time.Second, "how long the follower is stopped")
	flag.DurationVar(&cfg.Before, "before", 3*time.Second, "load with every worker live before the pause, after the warmup")
	flag.DurationVar(&cfg.Timeout, "timeout", time.Minute, "longest wait for the follower to catch up after its resume")
	flag.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency, "`clients` sending back to back")
	flag.DurationVar(&o.Warmup, "warmup", bench.DefaultWarmup, "load before anything is measured")
	workload := flag.String("workload", bench.AppendWorkload.Name, "the statements: "+bench.WorkloadNames)
	pidFile := flag.String("pidfile", "", "write `file` with the restarted worker's ID and new pid (ID PID)")
	label := flag.String("label", "", "a `name` for the report")
	jsonOut := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	w, ok := bench.Workloads[*workload]
	if !ok {
		fail(fmt.Errorf("-workload must be %s, not %q", bench.WorkloadNames, *workload))
	}
	o.Workload, o.Duration = w, time.Hour // Run sets the real one
	if err := o.Validate(); err != nil {
		fail(err)
	}
	cfg.Workers, cfg.Load = ws, o
	cfg.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "catchupbench: "+format+"\n", args...) }

	auth, err := natsOptions()
	if err != nil {
		fail(err)
	}
	c, err := client.Connect(*url, client.WithPrefix(*prefix), client.WithNATSOptions(append(auth, nats.Name("chorus-catchupbench"))...))
	if err != nil {
		fail(err)
	}
	defer c.Close()
	ex := bench.Chorus{Client: c}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := ex.Setup(ctx, o.Timeout); err != nil {
		fail(err)
	}
	cfg.Exec = ex

	rep := &bench.Report{Label: *label, Time: time.Now().UTC().Format(time.RFC3339), Settings: bench.SettingsOf(o)}
	rep.Settings.Duration, rep.Settings.NATS, rep.Settings.Prefix = 0, *url, *prefix
	out, restarted, err := catchup.Run(ctx, cfg)
	if restarted != nil && *pidFile != "" && out != nil {
		if werr := os.WriteFile(*pidFile, fmt.Appendf(nil, "%s %d\n", out.CatchUp.Worker, restarted.Pid), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "catchupbench:", werr)
		}
	}
	if out != nil && out.Load != nil {
		rep.Runs = []*bench.Result{out.Load}
		cu := out.CatchUp
		rep.CatchUp = &cu
	}
	if err != nil {
		rep.Notes = append(rep.Notes, err.Error())
		fmt.Fprintln(os.Stderr, "catchupbench:", err)
	}
	if *jsonOut {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Printf("%s\n", b)
	} else {
		_ = bench.WriteText(os.Stdout, rep)
	}
	if err != nil || rep.CatchUp == nil || !rep.CatchUp.CaughtUp {
		os.Exit(1)
	}
}

// natsOptions are the credentials of the environment, as chorus-worker reads them.
func natsOptions() ([]nats.Option, error) {
	s := natsauth.Settings{
		Creds: os.Getenv("CHORUS_NATS_CREDS"), NKey: os.Getenv("CHORUS_NATS_NKEY"),
		User: os.Getenv("CHORUS_NATS_USER"), Password: os.Getenv("CHORUS_NATS_PASSWORD"), Token: os.Getenv("CHORUS_NATS_TOKEN"),
		TLSCA: os.Getenv("CHORUS_NATS_TLS_CA"), TLSCert: os.Getenv("CHORUS_NATS_TLS_CERT"), TLSKey: os.Getenv("CHORUS_NATS_TLS_KEY"),
	}
	names := natsauth.Names{Creds: "CHORUS_NATS_CREDS", NKey: "CHORUS_NATS_NKEY", User: "CHORUS_NATS_USER", Password: "CHORUS_NATS_PASSWORD",
		Token: "CHORUS_NATS_TOKEN", TLSCA: "CHORUS_NATS_TLS_CA", TLSCert: "CHORUS_NATS_TLS_CERT", TLSKey: "CHORUS_NATS_TLS_KEY"}
	if err := errors.Join(s.Problems(names)...); err != nil {
		return nil, err
	}
	return s.Options()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "catchupbench:", err)
	os.Exit(1)
}
