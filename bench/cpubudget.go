package bench

import (
	"fmt"
	"strings"
)

// The CPU budget of targets 1 and 2: on a machine that NATS, Cassandra,
// the workers and the load generator share, a throughput needs its CPU
// per write to fit the cores. These are the runs whose Cassandra CPU
// (Options.StorePids) deploy/local/bench.sh measures, direct and Chorus.
var budgetRuns = []struct{ name, what string }{
	{RunCompare, "list appends, closed loop"},
	{RunHalfPeak, "list appends, open loop at half of Chorus's peak"},
	{RunIdemCompare, "idempotent writes, closed loop"},
	{RunIdemHalfPeak, "idempotent writes, open loop at half of Chorus's peak"},
}

// storeCPU is r's Cassandra CPU when it was measured.
func storeCPU(r *Result) (*CPU, bool) {
	if r == nil || r.CPU == nil || r.CPU.Error != "" || len(r.CPU.StorePids) == 0 || r.CPU.StorePerOp <= 0 {
		return nil, false
	}
	return r.CPU, true
}

// storeCap is the most writes/s the machine's cores allow when each
// write costs its Cassandra CPU alone, and that as a share of direct's
// throughput: a bound no cheaper worker or NATS can lift.
func storeCap(ch, dr *Result) (capRate, ofDirect float64, ok bool) {
	c, ok := storeCPU(ch)
	if !ok || c.Cores == 0 || dr == nil || dr.Throughput <= 0 {
		return 0, 0, false
	}
	capRate = storeCapRate(c)
	return capRate, capRate / dr.Throughput, true
}

// storeCapRate is the writes/s the machine's cores allow at c's
// Cassandra CPU per write.
func storeCapRate(c *CPU) float64 { return float64(c.Cores) * 1e6 / c.StorePerOp }

// budgetNote is the short account of a target's CPU for its row in the
// targets table ("" when the run measured none).
func (d *Doc) budgetNote(name string) string {
	dr, ch := d.result(name, "direct"), d.result(name, "chorus")
	dc, ok1 := storeCPU(dr)
	cc, ok2 := storeCPU(ch)
	if !ok1 || !ok2 {
		return ""
	}
	s := fmt.Sprintf("Cassandra's CPU per write: Chorus %s, direct %s (%.1f direct writes); machine busy: Chorus %.0f%%, direct %.0f%%",
		FormatUs(cc.StorePerOp), FormatUs(dc.StorePerOp), cc.StorePerOp/dc.StorePerOp, 100*cc.Busy, 100*dc.Busy)
	if ch.Loop == "closed" {
		if capRate, of, ok := storeCap(ch, dr); ok {
			s += fmt.Sprintf("; Cassandra's CPU alone caps Chorus at %s = %.2f × direct", FormatRate(capRate), of)
		}
	}
	return s
}

// writeCPUBudget writes where the CPU of each write goes in targets 1
// and 2's runs, and what the cores then allow.
func writeCPUBudget(b *strings.Builder, d *Doc) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	header := false
	for _, x := range budgetRuns {
		dr, ch := d.result(x.name, "direct"), d.result(x.name, "chorus")
		if _, ok := storeCPU(dr); !ok {
			continue
		}
		if _, ok := storeCPU(ch); !ok {
			continue
		}
		if !header {
			header = true
			p("\n## Where the CPU goes (targets 1 and 2)\n\n")
			p("The user and system time over each measured part, per successful write: of Cassandra (one\n")
			p("node, holding every replica's keyspace, or the direct keyspace), of the workers and NATS, and of\n")
			p("the load generator; and the share of all the machine's CPU time that was busy. On C cores a run\n")
			p("can do at most C × 10⁶ ÷ (CPU per write) writes/s, so \"Cassandra alone caps\" is the rate that\n")
			p("Cassandra's share by itself allows, whatever the workers and NATS cost.\n\n")
			p("| run | system | throughput | Cassandra CPU per write | workers + NATS | generator | machine busy | Cassandra alone caps at |\n")
			p("|---|---|---|---|---|---|---|---|\n")
		}
		for _, y := range []struct {
			label string
			r     *Result
		}{{"direct", dr}, {"Chorus, 3 workers", ch}} {
			c := y.r.CPU
			system := "—"
			if len(c.Pids) > 0 {
				system = FormatUs(c.SystemPerOp)
			}
			capText := "—"
			if c.Cores > 0 {
				capText = FormatRate(storeCapRate(c))
			}
			p("| %s | %s | %s | %s | %s | %s | %.0f%% of %d cores | %s |\n", x.what, y.label, FormatRate(y.r.Throughput),
				FormatUs(c.StorePerOp), system, FormatUs(c.GeneratorPerOp), 100*c.Busy, c.Cores, capText)
		}
	}
	if !header {
		return
	}
	for _, x := range budgetRuns {
		dr, ch := d.result(x.name, "direct"), d.result(x.name, "chorus")
		if ch == nil || ch.Loop != "closed" {
			continue
		}
		dc, ok1 := storeCPU(dr)
		cc, ok2 := storeCPU(ch)
		if !ok1 || !ok2 || cc.Cores == 0 {
			continue
		}
		want := TargetOfDirect * dr.Throughput
		budget := float64(cc.Cores) * 1e6 / want
		p("\n%s: target 1 asks for %s (%.1f × direct's %s). On %d cores that leaves %s of CPU per write for\n",
			capitalize(x.what), FormatRate(want), TargetOfDirect, FormatRate(dr.Throughput), cc.Cores, FormatUs(budget))
		p("everything; Chorus's Cassandra alone used %s (direct's %s per write, times %.1f: each write is applied\n",
			FormatUs(cc.StorePerOp), FormatUs(dc.StorePerOp), cc.StorePerOp/dc.StorePerOp)
		p("on %d replicas of the one node, with its exactly-once record and progress).\n", d.run(x.name).Workers)
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
