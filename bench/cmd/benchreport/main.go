// Command benchreport is the part of `make bench` (deploy/local/bench.sh)
// that reads JSON: it turns the `chorus bench --json` reports of a run into
// BENCHMARKS.md and its SVG plots, and computes the rate of the half-peak
// run. Only bash and coreutils are assumed on the machines, so the script
// leaves JSON to this.
//
//	benchreport rate REPORT.json FRACTION
//	    print FRACTION × the Chorus throughput of the report, in writes/s
//	benchreport write -dir DIR -out BENCHMARKS.md -plots docs/bench
//	    write the document from DIR (see below), print its targets, and write
//	    the plots into -plots:
//	    latency-<workload>.svg, latency-ordering.svg, throughput.svg (an older
//	    run's latency*.svg and throughput*.svg there are removed)
//
// DIR holds, written by bench.sh:
//
//	machine.tsv  name<TAB>value lines, in order
//	runs.tsv     name<TAB>workers<TAB>noop(0|1)<TAB>description<TAB>report file<TAB>command
//	             (the reports of chorus bench, etcdbench and catchupbench; the names
//	             the targets read are those of bench.Run*)
//	notes.md     one Markdown note per line
//	meta.tsv     started<TAB>…, took_s<TAB>…, generate<TAB>…
//	join.json    the join benchmark's report (bench/cmd/joinbench -json), if it ran
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorusdb/chorus/bench"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: benchreport rate REPORT.json FRACTION | benchreport write -dir DIR -out FILE -plots DIR")
	}
	switch os.Args[1] {
	case "rate":
		if len(os.Args) != 4 {
			fail("usage: benchreport rate REPORT.json FRACTION")
		}
		rep, err := readReport(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		f, err := strconv.ParseFloat(os.Args[3], 64)
		if err != nil || f <= 0 {
			fail("FRACTION must be a positive number")
		}
		x := rep.Run("chorus")
		if x == nil || x.Throughput <= 0 {
			fail(os.Args[2] + ": no Chorus throughput in the report")
		}
		fmt.Println(int64(math.Max(1, math.Round(f*x.Throughput))))
	case "write":
		fs := flag.NewFlagSet("benchreport write", flag.ExitOnError)
		dir := fs.String("dir", "", "directory of the run")
		out := fs.String("out", "BENCHMARKS.md", "the document to write")
		plots := fs.String("plots", "docs/bench", "directory of the SVG plots")
		_ = fs.Parse(os.Args[2:])
		if err := write(*dir, *out, *plots); err != nil {
			fail(err.Error())
		}
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "benchreport: "+msg)
	os.Exit(1)
}

func readReport(path string) (*bench.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r bench.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// readTSV reads lines of tab-separated fields; missing file: none.
func readTSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows, sc.Err()
}

func write(dir, out, plots string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	d := &bench.Doc{Generate: "make bench"}
	meta, err := readTSV(filepath.Join(dir, "meta.tsv"))
	if err != nil {
		return err
	}
	for _, kv := range meta {
		if len(kv) < 2 {
			continue
		}
		switch kv[0] {
		case "started":
			d.Started = kv[1]
		case "took_s":
			s, _ := strconv.Atoi(kv[1])
			d.Took = time.Duration(s) * time.Second
		case "generate":
			d.Generate = kv[1]
		}
	}
	machine, err := readTSV(filepath.Join(dir, "machine.tsv"))
	if err != nil {
		return err
	}
	for _, kv := range machine {
		if len(kv) >= 2 {
			d.Machine = append(d.Machine, [2]string{kv[0], strings.Join(kv[1:], " ")})
		}
	}
	runs, err := readTSV(filepath.Join(dir, "runs.tsv"))
	if err != nil {
		return err
	}
	for _, f := range runs {
		if len(f) < 6 {
			return fmt.Errorf("runs.tsv: want 6 fields, got %q", strings.Join(f, "\t"))
		}
		workers, _ := strconv.Atoi(f[1])
		r := bench.DocRun{Name: f[0], Workers: workers, Noop: f[2] == "1", Description: f[3], Command: f[5]}
		if rep, err := readReport(filepath.Join(dir, f[4])); err == nil {
			r.Report = rep
		} else {
			fmt.Fprintf(os.Stderr, "benchreport: run %s has no report: %v\n", f[0], err)
		}
		d.Runs = append(d.Runs, r)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "join.json")); err == nil {
		d.Join = &bench.JoinReport{}
		if err := json.Unmarshal(b, d.Join); err != nil {
			return fmt.Errorf("join.json: %v", err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	if notes, err := os.ReadFile(filepath.Join(dir, "notes.md")); err == nil {
		for _, line := range strings.Split(string(notes), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				d.Notes = append(d.Notes, line)
			}
		}
	}

	if err := os.MkdirAll(plots, 0o755); err != nil {
		return err
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(filepath.Dir(out), p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	var plotted []string
	plot := func(name, alt string, draw func(*os.File) error) error {
		path := filepath.Join(plots, name)
		if err := writeFile(path, draw); err != nil {
			return err
		}
		plotted = append(plotted, name)
		d.Plots = append(d.Plots, bench.DocPlot{Path: rel(path), Alt: alt})
		return nil
	}
	for _, wl := range d.RunWorkloads() {
		if series := d.LatencySeries(wl); len(series) > 0 {
			title := "Write latency: " + bench.WorkloadTitle(wl)
			if err := plot("latency-"+wl+".svg", "latency distributions: "+bench.WorkloadTitle(wl), func(f *os.File) error {
				return bench.WriteLatencySVG(f, title, series, d.LatencyRefs(wl))
			}); err != nil {
				return err
			}
		}
	}
	if series := d.OrderingSeries(); len(series) > 0 {
		if err := plot("latency-ordering.svg", "latency distributions: ordering layer alone and etcd", func(f *os.File) error {
			return bench.WriteLatencySVG(f, "Write latency: ordering layer alone (CHORUS_NOOP_STORE) and etcd, 3 each", series, nil)
		}); err != nil {
			return err
		}
	}
	if bars := d.ThroughputBars(); len(bars) > 0 {
		if err := plot("throughput.svg", "throughput of every configuration", func(f *os.File) error {
			return bench.WriteBarSVG(f, fmt.Sprintf("Committed writes per second (dashed: %g × direct, target 1)", bench.TargetOfDirect), "writes/s", bars)
		}); err != nil {
			return err
		}
	}
	// The directory holds this run's plots only: an older run's plot
	// that this one does not draw would be stale.
	if err := removeOtherSVGs(plots, plotted); err != nil {
		return err
	}
	if err := writeFile(out, func(f *os.File) error { return bench.WriteMarkdown(f, d) }); err != nil {
		return err
	}
	return bench.WriteTargets(os.Stdout, d.Targets())
}

// removeOtherSVGs deletes the plots of an older run in dir (latency*.svg,
// throughput*.svg) not in keep.
func removeOtherSVGs(dir string, keep []string) error {
	var old []string
	for _, pattern := range []string{"latency*.svg", "throughput*.svg"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		old = append(old, m...)
	}
	for _, path := range old {
		if !slices.Contains(keep, filepath.Base(path)) {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFile writes path through a temporary file, so a failure leaves the
// old one.
func writeFile(path string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchreport-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
