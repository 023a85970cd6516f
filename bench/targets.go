package bench

import (
	"fmt"
	"io"
	"strings"
)

// Run names the document gives a meaning to (deploy/local/bench.sh).
const (
	RunCompare      = "compare3"  // list appends, --compare closed loop, 3 workers: direct and Chorus
	RunHalfPeak     = "halfpeak3" // list appends, --compare --rate half of compare3's Chorus: both open loop
	RunIdemCompare  = "idem3"     // idempotent writes, as compare3
	RunIdemHalfPeak = "idemhalf3" // idempotent writes, as halfpeak3
	RunNoop         = "noop3"     // 3 workers with CHORUS_NOOP_STORE
	RunEtcd         = "etcd3"     // etcdbench on a 3-member etcd cluster, as noop3's clients
	RunCatchUp      = "catchup3"  // catchupbench on the 3 workers
)

// Target levels of issue 12.
const (
	TargetOfDirect   = 0.8     // Chorus ÷ direct writes/s, 3 workers, same clients
	TargetP99Factor  = 2.0     // Chorus p99 ÷ direct p99, open loop at half of Chorus's peak
	TargetOrdering   = 20000.0 // ordering layer alone, commits/s (and ≥ etcd's puts/s)
	TargetCatchUp    = 5.0     // catching-up replica's apply rate ÷ the cluster's commit rate
	targetScaleCount = 6       // workloads × worker counts of target 5
)

// Target is one target of the benchmark and what was measured.
type Target struct {
	What     string
	Want     string
	Got      string
	Met      bool
	Measured bool
}

// Targets evaluates issue 12's targets against the runs.
func (d *Doc) Targets() []Target {
	return []Target{
		d.throughputTarget(RunCompare, "1. committed writes/s, 3 workers, list appends"),
		d.throughputTarget(RunIdemCompare, "1. committed writes/s, 3 workers, idempotent writes"),
		d.latencyTarget(RunHalfPeak, "2. p99 at half of Chorus's peak, open loop (from the scheduled send), list appends"),
		d.latencyTarget(RunIdemHalfPeak, "2. p99 at half of Chorus's peak, open loop (from the scheduled send), idempotent writes"),
		d.orderingTarget(),
		d.catchUpTarget(),
		d.tableTarget(),
	}
}

func (d *Doc) result(name, target string) *Result {
	if r := d.run(name); r != nil && r.Report != nil {
		return r.Report.Run(target)
	}
	return nil
}

func (d *Doc) throughputTarget(name, what string) Target {
	t := Target{What: what, Want: fmt.Sprintf("≥ %.1f × direct writes/s into one keyspace, same clients", TargetOfDirect), Got: "not measured"}
	dr, ch := d.result(name, "direct"), d.result(name, "chorus")
	if dr == nil || ch == nil || dr.Throughput <= 0 || dr.Loop != "closed" || ch.Loop != "closed" {
		return t
	}
	r := d.run(name)
	ratio := ch.Throughput / dr.Throughput
	t.Measured, t.Met = true, ratio >= TargetOfDirect
	t.Got = fmt.Sprintf("%.2f (%s vs direct %s, %d clients each", ratio, FormatRate(ch.Throughput), FormatRate(dr.Throughput), ch.Concurrency)
	if r.Workers > 0 {
		t.Got += fmt.Sprintf("; ÷ (direct ÷ %d): %.2f", r.Workers, ratio*float64(r.Workers))
	}
	t.Got += ")"
	if ch.Errors > 0 {
		t.Got += fmt.Sprintf("; Chorus %s errors", thousands(ch.Errors))
	}
	if n := d.budgetNote(name); n != "" {
		t.Got += "; " + n
	}
	return t
}

func (d *Doc) latencyTarget(name, what string) Target {
	t := Target{What: what, Want: fmt.Sprintf("p99 ≤ %g × direct's p99 at the same rate", TargetP99Factor), Got: "not measured"}
	dr, ch := d.result(name, "direct"), d.result(name, "chorus")
	if dr == nil || ch == nil || dr.Loop != "open" || ch.Loop != "open" || dr.OK == 0 || ch.OK == 0 || dr.Latency.P99 <= 0 {
		return t
	}
	factor := ch.Latency.P99 / dr.Latency.P99
	t.Measured = true
	t.Met = factor <= TargetP99Factor && ch.Errors == 0 && ch.Dropped == 0 && ch.OfferedRate == dr.OfferedRate
	t.Got = fmt.Sprintf("%.1f× (Chorus p99 %s, p50 %s; direct p99 %s, p50 %s; at %s offered",
		factor, FormatMs(ch.Latency.P99), FormatMs(ch.Latency.P50), FormatMs(dr.Latency.P99), FormatMs(dr.Latency.P50), FormatRate(ch.OfferedRate))
	if ch.OfferedRate != dr.OfferedRate {
		t.Got += fmt.Sprintf(", direct at %s", FormatRate(dr.OfferedRate))
	}
	t.Got += ")"
	var notes []string
	for _, x := range []struct {
		name string
		r    *Result
	}{{"Chorus", ch}, {"direct", dr}} {
		if x.r.Errors > 0 || x.r.Dropped > 0 {
			notes = append(notes, fmt.Sprintf("%s %s errors, %s dropped", x.name, thousands(x.r.Errors), thousands(x.r.Dropped)))
		}
		if x.r.MaxScheduleLag >= 1 {
			notes = append(notes, fmt.Sprintf("the generator fired %s's writes up to %s late (counted in the latency)", x.name, FormatMs(x.r.MaxScheduleLag)))
		}
	}
	if n := d.budgetNote(name); n != "" {
		notes = append(notes, n)
	}
	if len(notes) > 0 {
		t.Got += "; " + strings.Join(notes, "; ")
	}
	return t
}

func (d *Doc) orderingTarget() Target {
	t := Target{What: "3. ordering layer alone (CHORUS_NOOP_STORE), 3 workers",
		Want: fmt.Sprintf("≥ %s commits/s and ≥ a 3-member etcd's puts/s, same clients", thousands(int64(TargetOrdering))), Got: "not measured"}
	noop, etcd := d.result(RunNoop, "chorus"), d.result(RunEtcd, "etcd")
	if noop == nil {
		return t
	}
	t.Measured, t.Met = true, noop.Throughput >= TargetOrdering
	t.Got = FormatRate(noop.Throughput)
	switch {
	case etcd == nil || etcd.Throughput <= 0:
		t.Met = false
		t.Got += "; etcd not measured"
	default:
		t.Met = t.Met && noop.Throughput >= etcd.Throughput && noop.Concurrency == etcd.Concurrency
		t.Got += fmt.Sprintf(" = %.2f × etcd's %s (%d clients", noop.Throughput/etcd.Throughput, FormatRate(etcd.Throughput), noop.Concurrency)
		if etcd.Concurrency != noop.Concurrency {
			t.Got += fmt.Sprintf(", etcd %d: not the same load", etcd.Concurrency)
		}
		t.Got += ")"
	}
	if noop.CPU != nil && noop.CPU.Error == "" {
		t.Got += "; CPU per commit " + cpuText(noop.CPU)
		if etcd != nil && etcd.CPU != nil && etcd.CPU.Error == "" {
			t.Got += ", etcd's per put " + cpuText(etcd.CPU)
		}
		t.Got += " (system + generator)"
	}
	if r := d.run(RunNoop); !r.Noop {
		t.Met, t.Got = false, t.Got+" (but the workers did not accept CHORUS_NOOP_STORE: Cassandra was used)"
	}
	return t
}

func (d *Doc) catchUpTarget() Target {
	t := Target{What: "4. a replica catching up under the closed-loop load, 3 workers",
		Want: fmt.Sprintf("applies ≥ %g × the cluster's commit rate", TargetCatchUp), Got: "not measured"}
	r := d.run(RunCatchUp)
	if r == nil || r.Report == nil || r.Report.CatchUp == nil || r.Report.CatchUp.Time <= 0 {
		return t
	}
	c := r.Report.CatchUp
	t.Measured, t.Met = true, c.CaughtUp && c.Ratio >= TargetCatchUp
	t.Got = fmt.Sprintf("%.1f× (applied %s vs committed %s over %.2fs, a backlog of %s writes after %.0fs down)",
		c.Ratio, FormatRate(c.ApplyRate), FormatRate(c.CommitRate), c.Time, thousands(int64(c.BacklogWrites)), c.Pause)
	if !c.CaughtUp {
		t.Got += "; it did not apply its backlog before the timeout"
	}
	return t
}

// tableTarget: both workloads measured for 1, 3 and 5 workers.
func (d *Doc) tableTarget() Target {
	t := Target{What: "5. the table for idempotent writes beside list appends, 1, 3 and 5 workers",
		Want: "both workloads measured with 1, 3 and 5 workers"}
	var missing []string
	n := 0
	for _, w := range []Workload{AppendWorkload, IdempotentWorkload} {
		have := map[int]bool{}
		for _, row := range d.closedRuns(w.Name) {
			have[row.workers] = row.x.OK > 0
		}
		for _, k := range []int{1, 3, 5} {
			if have[k] {
				n++
			} else {
				missing = append(missing, fmt.Sprintf("%s with %s", w.Name, workers(k)))
			}
		}
	}
	t.Measured, t.Met = n > 0, n == targetScaleCount
	t.Got = fmt.Sprintf("%d of %d", n, targetScaleCount)
	if len(missing) > 0 {
		t.Got += "; missing: " + strings.Join(missing, ", ")
	}
	if n == 0 {
		t.Got = "not measured"
	}
	return t
}

// WriteTargets prints the targets for a terminal: each with what it wants,
// what was measured and whether it is met.
func WriteTargets(w io.Writer, ts []Target) error {
	var b strings.Builder
	b.WriteString("targets of issue 12:\n")
	for _, t := range ts {
		met := "not measured"
		switch {
		case t.Met:
			met = "MET"
		case t.Measured:
			met = "missed"
		}
		fmt.Fprintf(&b, "  %-12s %s\n  %12s wanted %s; measured %s\n", met, t.What, "", t.Want, t.Got)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
