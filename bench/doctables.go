package bench

import (
	"fmt"
	"sort"
)

// The document groups the runs of a workload (list appends, idempotent
// writes) into one table; the ordering layer with etcd, and the catch-up,
// have sections of their own.

// workloadOf is the workload of a run; reports from before workloads had
// names ran the mixed one.
func workloadOf(r *DocRun) string {
	if r.Report == nil || r.Report.Settings.Workload == "" {
		return MixedWorkload.Name
	}
	return r.Report.Settings.Workload
}

// special runs have sections of their own.
func special(r *DocRun) bool {
	return r.Noop || r.Name == RunNoop || r.Name == RunEtcd || r.Name == RunCatchUp ||
		r.Report != nil && (r.Report.CatchUp != nil || r.Report.Run("etcd") != nil)
}

// RunWorkloads are the workloads of the ordinary runs: list appends and
// idempotent writes first, then any other in the order they ran.
func (d *Doc) RunWorkloads() []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range []string{AppendWorkload.Name, IdempotentWorkload.Name} {
		for i := range d.Runs {
			if r := &d.Runs[i]; r.Report != nil && !special(r) && workloadOf(r) == w && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	for i := range d.Runs {
		if r := &d.Runs[i]; r.Report != nil && !special(r) && !seen[workloadOf(r)] {
			seen[workloadOf(r)] = true
			out = append(out, workloadOf(r))
		}
	}
	return out
}

// WorkloadTitle names a workload for headings and labels.
func WorkloadTitle(w string) string {
	switch w {
	case AppendWorkload.Name:
		return "List appends"
	case IdempotentWorkload.Name:
		return "Idempotent writes (INSERT and UPDATE of regular columns)"
	case MixedWorkload.Name:
		return "Mixed: list appends and INSERTs"
	}
	return "Workload " + w
}

func shortTitle(w string) string {
	switch w {
	case AppendWorkload.Name:
		return "appends"
	case IdempotentWorkload.Name:
		return "idempotent"
	}
	return w
}

// directOf is the closed-loop direct baseline of workload w, or nil.
func (d *Doc) directOf(w string) *Result {
	for i := range d.Runs {
		r := &d.Runs[i]
		if r.Report == nil || special(r) || workloadOf(r) != w {
			continue
		}
		if x := r.Report.Run("direct"); x != nil && x.Loop == "closed" && x.OK > 0 {
			return x
		}
	}
	return nil
}

type scalingRow struct {
	workers int
	x       *Result
	direct  float64 // the workload's direct baseline, 0 if none
}

func (s scalingRow) ofDirect() float64 {
	if s.direct <= 0 {
		return 0
	}
	return s.x.Throughput / s.direct
}

// closedRuns are the closed-loop Chorus runs on Cassandra of workload w,
// the first of each worker count, by worker count.
func (d *Doc) closedRuns(w string) []scalingRow {
	var direct float64
	if x := d.directOf(w); x != nil {
		direct = x.Throughput
	}
	byWorkers := map[int]scalingRow{}
	for i := range d.Runs {
		r := &d.Runs[i]
		if r.Report == nil || special(r) || r.Workers == 0 || workloadOf(r) != w {
			continue
		}
		x := r.Report.Run("chorus")
		if x == nil || x.Loop != "closed" {
			continue
		}
		if _, seen := byWorkers[r.Workers]; !seen {
			byWorkers[r.Workers] = scalingRow{workers: r.Workers, x: x, direct: direct}
		}
	}
	rows := make([]scalingRow, 0, len(byWorkers))
	for _, row := range byWorkers {
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].workers < rows[j].workers })
	return rows
}

// openRun is an open-loop run of a workload: the direct baseline and
// Chorus at the same rate (either may be missing).
type openRun struct {
	run            *DocRun
	direct, chorus *Result
}

func (d *Doc) openRuns(w string) []openRun {
	var out []openRun
	for i := range d.Runs {
		r := &d.Runs[i]
		if r.Report == nil || special(r) || workloadOf(r) != w {
			continue
		}
		o := openRun{run: r}
		if x := r.Report.Run("direct"); x != nil && x.Loop == "open" {
			o.direct = x
		}
		if x := r.Report.Run("chorus"); x != nil && x.Loop == "open" {
			o.chorus = x
		}
		if o.direct != nil || o.chorus != nil {
			out = append(out, o)
		}
	}
	return out
}

// tableRow is a row of a results table.
type tableRow struct {
	name     string
	x        *Result
	ofDirect float64 // throughput ÷ direct; 0: none
	ofBound  float64 // throughput ÷ (direct ÷ N); 0: none
}

// workloadRows are the rows of workload w's table: the direct baseline,
// Chorus by worker count, then the open-loop runs.
func (d *Doc) workloadRows(w string) []tableRow {
	var rows []tableRow
	if x := d.directOf(w); x != nil {
		rows = append(rows, tableRow{name: "direct: Cassandra via gocql, 1 keyspace", x: x})
	}
	for _, s := range d.closedRuns(w) {
		row := tableRow{name: "Chorus, " + workers(s.workers), x: s.x, ofDirect: s.ofDirect()}
		row.ofBound = row.ofDirect * float64(s.workers)
		rows = append(rows, row)
	}
	for _, o := range d.openRuns(w) {
		if o.direct != nil {
			rows = append(rows, tableRow{name: "direct, at half of Chorus's peak", x: o.direct})
		}
		if o.chorus != nil {
			rows = append(rows, tableRow{name: "Chorus, " + workers(o.run.Workers) + ", at half of its peak", x: o.chorus})
		}
	}
	return rows
}

// ThroughputBars are the bars of the throughput chart: per workload the
// direct baseline and Chorus by worker count (marked: 0.8 × direct, the
// target), then the ordering layer and etcd.
func (d *Doc) ThroughputBars() []Bar {
	var bars []Bar
	for _, w := range d.RunWorkloads() {
		t := shortTitle(w)
		direct := d.directOf(w)
		if direct != nil {
			bars = append(bars, Bar{Label: t + "\ndirect", Value: direct.Throughput})
		}
		for _, s := range d.closedRuns(w) {
			bar := Bar{Label: t + "\n" + workers(s.workers), Value: s.x.Throughput}
			if s.direct > 0 {
				bar.Ref, bar.RefLabel = TargetOfDirect*s.direct, fmt.Sprintf("%g×direct", TargetOfDirect)
			}
			bars = append(bars, bar)
		}
	}
	if x := d.result(RunNoop, "chorus"); x != nil {
		bars = append(bars, Bar{Label: "ordering\nonly", Value: x.Throughput})
	}
	if x := d.result(RunEtcd, "etcd"); x != nil {
		bars = append(bars, Bar{Label: "etcd\n3 members", Value: x.Throughput})
	}
	return bars
}

// LatencySeries are the latency distributions of workload w's runs.
func (d *Doc) LatencySeries(w string) []Series {
	var series []Series
	for _, row := range d.workloadRows(w) {
		if row.x.OK == 0 {
			continue
		}
		name := row.name
		if row.x.Target == "direct" && row.x.Loop == "closed" {
			name = "direct (Cassandra, 1 keyspace)"
		}
		if row.x.Loop == "open" {
			name += fmt.Sprintf(" (%s)", FormatRate(row.x.OfferedRate))
		}
		series = append(series, SeriesOf(name, row.x))
	}
	return series
}

// LatencyRefs mark target 2 on workload w's latency plot: twice the direct
// p99 at half of Chorus's peak.
func (d *Doc) LatencyRefs(w string) []RefLine {
	for _, o := range d.openRuns(w) {
		if o.direct != nil && o.direct.Latency.P99 > 0 {
			return []RefLine{{Value: TargetP99Factor * o.direct.Latency.P99,
				Label: fmt.Sprintf("%g × direct's p99 at %s (target)", TargetP99Factor, FormatRate(o.direct.OfferedRate))}}
		}
	}
	return nil
}

// OrderingSeries are the latency distributions of the ordering layer and etcd.
func (d *Doc) OrderingSeries() []Series {
	var series []Series
	if x := d.result(RunNoop, "chorus"); x != nil && x.OK > 0 {
		series = append(series, SeriesOf("ordering layer alone, 3 workers", x))
	}
	if x := d.result(RunEtcd, "etcd"); x != nil && x.OK > 0 {
		series = append(series, SeriesOf("etcd, 3 members", x))
	}
	return series
}
