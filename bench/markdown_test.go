package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func result(target, loop string, throughput, p99 float64) *Result {
	r := sampleResult(p99 / 5)
	r.Target, r.Loop, r.Throughput = target, loop, throughput
	r.Latency.P99 = p99
	if loop == "open" {
		r.OfferedRate, r.Concurrency = throughput, 0
	}
	return r
}

func report(w Workload, runs ...*Result) *Report {
	r := &Report{Runs: runs, Settings: SettingsOf(Options{Concurrency: 32, Workload: w})}
	if d, c := r.Run("direct"), r.Run("chorus"); d != nil && c != nil {
		r.Compare = Compare(d.Throughput, c.Throughput, 3)
	}
	return r
}

// sampleDoc is a full run: list appends meet targets 1 and 2, idempotent
// writes miss target 1 and have no open-loop run, the ordering layer beats
// etcd and 20,000/s, the catch-up is 6×, and Chorus with 5 workers on
// list appends failed.
func sampleDoc() *Doc {
	noop := result("chorus", "closed", 25000, 20)
	etcd := result("etcd", "closed", 12000, 30)
	noop.Concurrency, etcd.Concurrency = 256, 256
	noop.CPU = &CPU{Pids: []int{11, 12, 13, 14}, SystemSeconds: 40, GeneratorSeconds: 8, SystemPerOp: 106.7, GeneratorPerOp: 21.3}
	etcd.CPU = &CPU{Pids: []int{21, 22, 23}, Error: "reading the CPU time of process 21: gone"}
	catchup := report(AppendWorkload, result("chorus", "closed", 6000, 90))
	catchup.CatchUp = &CatchUp{Worker: "server0", Leader: "server1", Pause: 10, BacklogWrites: 60000, BacklogEntries: 20000,
		CaughtUp: true, Time: 2, Applied: 72000, ApplyRate: 36000, CommitRate: 6000, CommitRateBefore: 7000, CommitRateDown: 6500, Ratio: 6, Rejoin: 2.5}
	return &Doc{
		Started: "2025-01-01T00:00:00Z", Took: 200 * time.Second, Generate: "make bench",
		Machine: [][2]string{{"CPU", "2 × AMD EPYC"}, {"a|b", "c"}},
		Runs: []DocRun{
			{Name: RunCompare, Workers: 3, Description: "list appends: direct and Chorus, 3 workers", Command: "bin/chorus bench --compare",
				Report: report(AppendWorkload, result("direct", "closed", 9000, 8), result("chorus", "closed", 7500, 40))},
			{Name: RunHalfPeak, Workers: 3, Description: "list appends at half of peak", Command: "bin/chorus bench --compare --rate 3750",
				Report: report(AppendWorkload, result("direct", "open", 3750, 4), result("chorus", "open", 3750, 7.5))},
			{Name: RunIdemCompare, Workers: 3, Description: "idempotent: direct and Chorus, 3 workers", Command: "bin/chorus bench --compare --workload idempotent",
				Report: report(IdempotentWorkload, result("direct", "closed", 10000, 6), result("chorus", "closed", 5000, 30))},
			{Name: RunCatchUp, Workers: 3, Description: "catch-up", Command: "catchupbench", Report: catchup},
			{Name: RunNoop, Workers: 3, Noop: true, Description: "ordering layer alone", Command: "bin/chorus bench --concurrency 256",
				Report: report(AppendWorkload, noop)},
			{Name: RunEtcd, Description: "etcd", Command: "etcdbench", Report: report(AppendWorkload, etcd)},
			{Name: "scale1", Workers: 1, Description: "Chorus, 1 worker", Command: "bin/chorus bench",
				Report: report(AppendWorkload, result("chorus", "closed", 8000, 10))},
			{Name: "idem1", Workers: 1, Description: "idempotent, 1 worker", Command: "bin/chorus bench --workload idempotent",
				Report: report(IdempotentWorkload, result("chorus", "closed", 8500, 10))},
			{Name: "scale5", Workers: 5, Description: "Chorus, 5 workers", Command: "bin/chorus bench"},
			{Name: "idem5", Workers: 5, Description: "idempotent, 5 workers", Command: "bin/chorus bench --workload idempotent",
				Report: report(IdempotentWorkload, result("chorus", "closed", 3000, 50))},
		},
		Notes: []string{"a note"},
		Plots: []DocPlot{{Path: "docs/bench/latency-append.svg", Alt: "latency"}},
	}
}

func TestTargets(t *testing.T) {
	ts := sampleDoc().Targets()
	if len(ts) != 7 {
		t.Fatalf("%d targets", len(ts))
	}
	for _, c := range []struct {
		i        int
		measured bool
		met      bool
		got      string
	}{
		// 7,500 vs 9,000: 0.83; 5,000 vs 10,000: 0.50.
		{0, true, true, "0.83 (7,500/s vs direct 9,000/s, 8 clients each; ÷ (direct ÷ 3): 2.50)"},
		{1, true, false, "0.50 (5,000/s vs direct 10,000/s"},
		// p99 7.5 ms against direct's 4 ms at the same rate: 1.9×.
		{2, true, true, "1.9× (Chorus p99 7.50ms, p50 "},
		{3, false, false, "not measured"},
		{4, true, true, "25,000/s = 2.08 × etcd's 12,000/s (256 clients)"},
		{5, true, true, "6.0× (applied 36,000/s vs committed 6,000/s over 2.00s, a backlog of 60,000 writes after 10s down)"},
		// list appends with 5 workers failed.
		{6, true, false, "5 of 6; missing: append with 5 workers"},
	} {
		tg := ts[c.i]
		if tg.Measured != c.measured || tg.Met != c.met || !strings.HasPrefix(tg.Got, c.got) {
			t.Errorf("target %d: %+v; want measured %v, met %v, got %q…", c.i, tg, c.measured, c.met, c.got)
		}
	}
	if !strings.Contains(ts[4].Got, "; CPU per commit 107µs + 21µs (system + generator)") || strings.Contains(ts[4].Got, "etcd's per put") {
		t.Errorf("ordering target %+v", ts[4])
	}
	if !strings.Contains(ts[2].Got, "direct p99 4.00ms") || !strings.Contains(ts[2].Got, "at 3,750/s offered") {
		t.Errorf("latency target %+v", ts[2])
	}

	// Missed, by each of the reasons a target can be missed.
	d := sampleDoc()
	d.run(RunCompare).Report.Run("chorus").Throughput = 7000 // 0.78
	hp := d.run(RunHalfPeak).Report
	hp.Run("chorus").Latency.P99 = 8.5 // 2.1×
	d.run(RunIdemHalfPeak)             // absent: stays not measured
	d.run(RunEtcd).Report.Run("etcd").Throughput = 26000
	d.run(RunCatchUp).Report.CatchUp.Ratio = 4.9
	ts = d.Targets()
	for _, i := range []int{0, 2, 4, 5} {
		if !ts[i].Measured || ts[i].Met {
			t.Errorf("target %d met: %+v", i, ts[i])
		}
	}
	// Met latency, but with dropped writes; the ordering layer above etcd
	// but below 20,000/s; a catch-up ratio above 5 that never finished.
	d = sampleDoc()
	d.run(RunHalfPeak).Report.Run("chorus").Dropped = 3
	d.run(RunNoop).Report.Run("chorus").Throughput = 19000
	d.run(RunCatchUp).Report.CatchUp.CaughtUp = false
	ts = d.Targets()
	for _, i := range []int{2, 4, 5} {
		if !ts[i].Measured || ts[i].Met {
			t.Errorf("target %d met: %+v", i, ts[i])
		}
	}
	if !strings.Contains(ts[2].Got, "Chorus 0 errors, 3 dropped") || !strings.Contains(ts[5].Got, "did not apply its backlog") {
		t.Errorf("reasons: %q, %q", ts[2].Got, ts[5].Got)
	}
	// No etcd, and workers that ignored CHORUS_NOOP_STORE.
	d = sampleDoc()
	d.run(RunEtcd).Report = nil
	d.run(RunNoop).Noop = false
	ts = d.Targets()
	if ts[4].Met || !strings.Contains(ts[4].Got, "etcd not measured") || !strings.Contains(ts[4].Got, "did not accept CHORUS_NOOP_STORE") {
		t.Errorf("ordering target %+v", ts[4])
	}
	// Etcd driven by another number of clients is not the same load.
	d = sampleDoc()
	d.run(RunEtcd).Report.Run("etcd").Concurrency = 32
	if tg := d.Targets()[4]; tg.Met || !strings.Contains(tg.Got, "etcd 32: not the same load") {
		t.Errorf("ordering target %+v", tg)
	}
	// Nothing ran.
	for i, tg := range (&Doc{}).Targets() {
		if tg.Measured || tg.Met || tg.Got != "not measured" {
			t.Errorf("empty doc, target %d: %+v", i, tg)
		}
	}
}

func TestWriteTargets(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTargets(&b, sampleDoc().Targets()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"targets of issue 12:\n",
		"  MET          1. committed writes/s, 3 workers, list appends\n               wanted ≥ 0.8 × direct writes/s into one keyspace, same clients; measured 0.83 (",
		"  missed       1. committed writes/s, 3 workers, idempotent writes\n",
		"  not measured 2. p99 at half of Chorus's peak, open loop (from the scheduled send), idempotent writes\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, sampleDoc()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Chorus benchmarks",
		"Generated by `make bench` on 2025-01-01T00:00:00Z (it took 3m20s)",
		"| CPU | 2 × AMD EPYC |",
		`| a\|b | c |`,
		"## Targets (issue 12)",
		"| 1. committed writes/s, 3 workers, list appends | ≥ 0.8 × direct writes/s into one keyspace, same clients | 0.83 (",
		"### List appends\n\nEach write one of: 100% list appends `UPDATE bench_list SET events = events + [S] WHERE id = K` to 64 keys.",
		"### Idempotent writes (INSERT and UPDATE of regular columns)\n\nEach write one of: 50% UPDATEs of regular columns",
		"| direct: Cassandra via gocql, 1 keyspace | closed loop, 8 clients | 9,000/s |",
		"| Chorus, 1 worker | closed loop, 8 clients | 8,000/s | ",
		"| 0.89 | 0.89 |",
		"| Chorus, 3 workers | closed loop, 8 clients | 7,500/s |",
		"| 0.83 | 2.50 |",
		"| direct, at half of Chorus's peak | open loop 3,750/s | 3,750/s |",
		"| Chorus, 3 workers, at half of its peak | open loop 3,750/s | 3,750/s |",
		"Open loop at 3,750/s: Chorus's p50 is ",
		"its p99 1.9× direct's.",
		"| Chorus, 5 workers | closed loop, 8 clients | 3,000/s |",
		"| 0.30 | 1.50 |",
		"### Ordering layer alone and etcd",
		"| ordering layer alone (CHORUS_NOOP_STORE), 3 workers | closed loop, 256 clients | 25,000/s |",
		"| etcd, 3 members | closed loop, 256 clients | 12,000/s |",
		"| 0 | 107µs + 21µs |",
		"| 0 | not measured (reading the CPU time of process 21: gone) |",
		"### Catching up under load",
		"| 10.0 s | 60,000 writes (20,000 log entries) | 2.00 s | 36,000/s | 6,000/s | 6.00 | 7,000/s / 6,500/s | 2.50 s after the restart |",
		"The load over the whole measurement (the stop included): 6,000/s",
		"Run `scale5` (Chorus, 5 workers) produced no report",
		"![latency](docs/bench/latency-append.svg)",
		"# list appends at half of peak\nbin/chorus bench --compare --rate 3750\n",
		"- a note",
		"| **yes** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
	// The open-loop rows have no throughput ratio (they run at a set rate).
	for _, line := range strings.Split(md, "\n") {
		if strings.Contains(line, "| open loop") && !strings.HasSuffix(line, "| — | — |") {
			t.Errorf("open-loop row with a ratio: %s", line)
		}
	}
	// The catch-up load and the ordering layer are not rows of the list
	// appends table (they are not Chorus on Cassandra at full speed).
	if strings.Contains(md, "| Chorus, 3 workers | closed loop, 8 clients | 6,000/s") || strings.Contains(md, "| Chorus, 3 workers | closed loop, 256 clients") {
		t.Errorf("a special run in a workload table:\n%s", md)
	}
}

func TestDocCharts(t *testing.T) {
	d := sampleDoc()
	bars := d.ThroughputBars()
	var labels []string
	for _, b := range bars {
		labels = append(labels, strings.ReplaceAll(b.Label, "\n", " "))
	}
	if got := strings.Join(labels, "; "); got != "appends direct; appends 1 worker; appends 3 workers; idempotent direct; idempotent 1 worker; idempotent 3 workers; idempotent 5 workers; ordering only; etcd 3 members" {
		t.Fatalf("bars %s", got)
	}
	if bars[2].Ref != 0.8*9000 || bars[5].Ref != 0.8*10000 || bars[0].Ref != 0 {
		t.Fatalf("target marks %v %v %v", bars[0].Ref, bars[2].Ref, bars[5].Ref)
	}
	var names []string
	for _, s := range d.LatencySeries(AppendWorkload.Name) {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, "; "); got != "direct (Cassandra, 1 keyspace); Chorus, 1 worker; Chorus, 3 workers; direct, at half of Chorus's peak (3,750/s); Chorus, 3 workers, at half of its peak (3,750/s)" {
		t.Fatalf("series %s", got)
	}
	if refs := d.LatencyRefs(AppendWorkload.Name); len(refs) != 1 || refs[0].Value != 8 {
		t.Fatalf("refs %+v", refs)
	}
	if refs := d.LatencyRefs(IdempotentWorkload.Name); refs != nil {
		t.Fatalf("idempotent refs %+v", refs)
	}
	if s := d.OrderingSeries(); len(s) != 2 || s[1].Name != "etcd, 3 members" {
		t.Fatalf("ordering series %+v", s)
	}
	if w := d.RunWorkloads(); len(w) != 2 || w[0] != "append" || w[1] != "idempotent" {
		t.Fatalf("workloads %v", w)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	d := sampleDoc()
	rep := d.Runs[0].Report
	rep.Settings = SettingsOf(Options{Concurrency: 32, Duration: 15 * time.Second, Warmup: 2 * time.Second, Timeout: time.Second, Workload: DefaultWorkload})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Compare.Ratio != rep.Compare.Ratio || back.Compare.OfDirect != rep.Compare.OfDirect || back.Run("direct").Throughput != 9000 ||
		back.Settings.Duration != 15 || back.Settings.Workload != "mixed" || len(back.Run("chorus").CDF) == 0 {
		t.Fatalf("round trip: %s", b)
	}
	for _, key := range []string{`"throughput":9000`, `"latency_ms":{"min":`, `"p99":8`, `"ratio":2.5`, `"of_direct":0.8333`, `"duration_s":15`, `"workload":"mixed"`, `"cdf":[{"q":0,"ms":`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}

func TestProgressPrinter(t *testing.T) {
	var b bytes.Buffer
	pp := &ProgressPrinter{W: &b, TTY: true, Label: "chorus"}
	pp.Update(Progress{Phase: "warmup", Elapsed: 1200 * time.Millisecond, Rate: 1234})
	pp.Update(Progress{Phase: "run", Elapsed: 5 * time.Second, Duration: 10 * time.Second, OK: 12345, InFlight: 32, Rate: 2469, P99: 4100 * time.Microsecond})
	pp.Update(Progress{Phase: "done", Elapsed: 10 * time.Second, Duration: 10 * time.Second, OK: 24690})
	out := b.String()
	if strings.Count(out, "\r") != 3 || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("terminal output %q: want lines rewritten with \\r and one newline at the end", out)
	}
	for _, want := range []string{"chorus  warmup 1.2s  1,234/s", "[############------------]  50%  run 5s/10s  ok 12,345  err 0  in flight 32  2,469/s  p99 4.10ms", "100%  done 10s/10s  ok 24,690"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q: %q", want, out)
		}
	}

	b.Reset()
	now := time.Unix(0, 0)
	pp = &ProgressPrinter{W: &b, Label: "direct", now: func() time.Time { return now }}
	for i := range 20 { // one update a second
		phase := "run"
		if i < 2 {
			phase = "warmup"
		}
		pp.Update(Progress{Phase: phase, Elapsed: time.Duration(i) * time.Second, Duration: 20 * time.Second})
		now = now.Add(time.Second)
	}
	pp.Update(Progress{Phase: "done", Elapsed: 20 * time.Second, Duration: 20 * time.Second})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	// warmup, run (at 2s), every 5s (7s, 12s, 17s), done.
	if len(lines) != 6 || strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "[") {
		t.Fatalf("log output:\n%s", b.String())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{FormatMs(0.4123), "0.412ms"}, {FormatMs(4.123), "4.12ms"}, {FormatMs(41.23), "41.2ms"}, {FormatMs(412.3), "412ms"},
		{FormatRate(12.34), "12.3/s"}, {FormatRate(12345.6), "12,346/s"}, {thousands(-1234567), "-1,234,567"}, {thousands(999), "999"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// With Cassandra's CPU measured in the direct and the Chorus runs, the
// targets name it and the document gives the budget it leaves.
func TestCPUBudget(t *testing.T) {
	d := sampleDoc()
	rep := d.run(RunCompare).Report
	rep.Run("direct").CPU = &CPU{StorePids: []int{9}, StorePerOp: 200, GeneratorPerOp: 10, Busy: 0.97, Cores: 2}
	rep.Run("chorus").CPU = &CPU{Pids: []int{1, 2}, SystemPerOp: 150, StorePids: []int{9}, StorePerOp: 800, GeneratorPerOp: 20, Busy: 0.95, Cores: 2}
	hp := d.run(RunHalfPeak).Report
	hp.Run("direct").CPU = &CPU{StorePids: []int{9}, StorePerOp: 400, Busy: 0.5, Cores: 2}
	hp.Run("chorus").CPU = &CPU{Pids: []int{1, 2}, SystemPerOp: 300, StorePids: []int{9}, StorePerOp: 1200, Busy: 0.9, Cores: 2}
	ts := d.Targets()
	// 2 cores ÷ 800 µs = 2,500/s, against direct's 9,000/s: 0.28.
	if want := "; Cassandra's CPU per write: Chorus 800µs, direct 200µs (4.0 direct writes); machine busy: Chorus 95%, direct 97%; Cassandra's CPU alone caps Chorus at 2,500/s = 0.28 × direct"; !strings.HasSuffix(ts[0].Got, want) {
		t.Errorf("target 1: %q lacks %q", ts[0].Got, want)
	}
	if want := "Cassandra's CPU per write: Chorus 1200µs, direct 400µs (3.0 direct writes); machine busy: Chorus 90%, direct 50%"; !strings.HasSuffix(ts[2].Got, want) || strings.Contains(ts[2].Got, "caps") {
		t.Errorf("target 2: %q lacks %q", ts[2].Got, want)
	}
	if strings.Contains(ts[1].Got, "Cassandra") { // not measured for idempotent writes here
		t.Errorf("target 1, idempotent: %q", ts[1].Got)
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## Where the CPU goes (targets 1 and 2)",
		"| list appends, closed loop | direct | 9,000/s | 200µs | — | 10µs | 97% of 2 cores | 10,000/s |",
		"| list appends, closed loop | Chorus, 3 workers | 7,500/s | 800µs | 150µs | 20µs | 95% of 2 cores | 2,500/s |",
		"| list appends, open loop at half of Chorus's peak | Chorus, 3 workers | 3,750/s | 1200µs | 300µs |",
		// 0.8 × 9,000 = 7,200/s: 2 × 10⁶ ÷ 7,200 = 278 µs per write.
		"List appends, closed loop: target 1 asks for 7,200/s (0.8 × direct's 9,000/s). On 2 cores that leaves 278µs of CPU per write for\neverything; Chorus's Cassandra alone used 800µs (direct's 200µs per write, times 4.0",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("document lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(sampleMarkdown(t), "Where the CPU goes") {
		t.Error("a budget section without Cassandra's CPU measured")
	}
}

func sampleMarkdown(t *testing.T) string {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, sampleDoc()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
