// Command etcdbench drives the benchmark's closed-loop load into an etcd
// cluster (package bench/etcdload: one Put per statement) and reports it
// like `chorus bench --json`, with the target "etcd". `make bench` runs it
// against a 3-member cluster on loopback, beside the ordering-layer run.
//
//	etcdbench -endpoints 127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793 -concurrency 256 -duration 15s -json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/bench/etcdload"
)

func main() {
	o := bench.Options{Timeout: bench.DefaultTimeout}
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "etcd client `endpoints`, comma-separated")
	flag.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency, "`clients` sending back to back")
	flag.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "measure for this `duration` after the warmup")
	flag.DurationVar(&o.Warmup, "warmup", bench.DefaultWarmup, "load for this `duration` before measuring")
	flag.DurationVar(&o.Timeout, "timeout", bench.DefaultTimeout, "give one put up after this `duration`")
	workload := flag.String("workload", bench.AppendWorkload.Name, "the statements put as values: "+bench.WorkloadNames)
	label := flag.String("label", "", "a `name` for the report")
	jsonOut := flag.Bool("json", false, "print the report as JSON")
	cpuPids := flag.String("cpu-pids", "", "report the CPU time these comma-separated process `ids` (etcd's members) use during the measured run, per put (Linux)")
	flag.Parse()
	var err error
	if o.CPUPids, err = bench.ParsePids(*cpuPids); err != nil {
		fail(fmt.Errorf("-cpu-pids: %w", err))
	}
	w, ok := bench.Workloads[*workload]
	if !ok {
		fail(fmt.Errorf("-workload must be %s, not %q", bench.WorkloadNames, *workload))
	}
	o.Workload = w
	if err := o.Validate(); err != nil {
		fail(err)
	}
	eps := strings.Split(*endpoints, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c, err := etcdload.Connect(ctx, eps, 30*time.Second)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	rep := &bench.Report{Label: *label, Time: time.Now().UTC().Format(time.RFC3339), Settings: bench.SettingsOf(o)}
	rep.Settings.Etcd = *endpoints
	pp := &bench.ProgressPrinter{W: os.Stderr, Label: "etcd"}
	o.Progress, o.ProgressEvery = pp.Update, time.Second
	res, err := bench.Run(ctx, o, &etcdload.Puts{Client: c, Keys: w.Keys})
	if err != nil {
		fail(err)
	}
	res.Target = "etcd"
	rep.Runs = []*bench.Result{res}
	if *jsonOut {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Printf("%s\n", b)
	} else {
		_ = bench.WriteText(os.Stdout, rep)
	}
	if res.OK == 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "etcdbench:", err)
	os.Exit(1)
}
