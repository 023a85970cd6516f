package simulation

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// seeds is how many seeded runs TestSimulation plays.
func seeds(t *testing.T) int {
	if v := os.Getenv("SIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SIM_SEEDS=%q: %v", v, err)
		}
		return n
	}
	if testing.Short() {
		return 200
	}
	return 2000
}

// TestSimulation plays many seeded runs (2000, 200 with -short,
// SIM_SEEDS=n to choose). A failure names its seed; replay it with the
// whole trace:
//
//	SIM_SEED=N go test ./simulation -run 'TestSimulation/seed=N$' -v
//
// SIM_LEASE_RESETS=1 adds the recreated-lease-bucket fault.
func TestSimulation(t *testing.T) {
	if v := os.Getenv("SIM_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED=%q: %v", v, err)
		}
		t.Run("seed="+v, func(t *testing.T) { runSeed(t, seed, true) })
		return
	}
	for seed := uint64(1); seed <= uint64(seeds(t)); seed++ {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			runSeed(t, seed, false)
		})
	}
}

func runSeed(t *testing.T, seed uint64, verbose bool) {
	tr := newTracer(verbose, 80)
	cfg := ConfigFor(seed)
	cfg.LeaseResets = os.Getenv("SIM_LEASE_RESETS") != ""
	s := New(seed, cfg, tr)
	v := s.Run()
	if verbose {
		t.Log("trace:\n" + strings.Join(tr.Lines(), "\n"))
		t.Logf("seed %d: %d events, %s simulated, log of %d entries", seed, s.steps, s.now.Sub(epoch0), len(s.log))
	}
	if v != "" {
		tail := tr.Lines()
		if verbose {
			tail = nil
		}
		t.Fatalf("seed %d (%s): %s\nreplay: %sSIM_SEED=%d go test ./simulation -run 'TestSimulation/seed=%d$' -v\nlast events:\n%s",
			seed, s.cfg, v, envPrefix(), seed, seed, strings.Join(tail, "\n"))
	}
}

// TestDeterministic: a seed replays exactly — the same trace, event for
// event.
func TestDeterministic(t *testing.T) {
	for _, seed := range []uint64{1, 4, 77} {
		var traces [2]string
		for i := range traces {
			tr := newTracer(true, 0)
			New(seed, ConfigFor(seed), tr).Run()
			traces[i] = strings.Join(tr.Lines(), "\n")
		}
		if traces[0] != traces[1] {
			a, b := strings.Split(traces[0], "\n"), strings.Split(traces[1], "\n")
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Fatalf("seed %d: traces differ at line %d:\n%s\n%s", seed, i, a[i], b[i])
				}
			}
			t.Fatalf("seed %d: traces differ in length: %d and %d lines", seed, len(a), len(b))
		}
		if n := strings.Count(traces[0], "\n"); n < 100 {
			t.Fatalf("seed %d: a trace of %d lines is too short to mean anything", seed, n)
		}
	}
}

// envPrefix repeats the settings a replay needs.
func envPrefix() string {
	if os.Getenv("SIM_LEASE_RESETS") != "" {
		return "SIM_LEASE_RESETS=1 "
	}
	return ""
}

// TestSimulationCoversItsFaults: over a few hundred seeds, every fault and
// every path that the fixes of a stalled replica and a lagging leader
// depend on actually happens; a simulation that never reaches them would
// pass for nothing.
func TestSimulationCoversItsFaults(t *testing.T) {
	total := map[string]int{}
	for seed := uint64(1); seed <= 300; seed++ {
		s := New(seed, ConfigFor(seed), nil)
		if v := s.Run(); v != "" {
			t.Fatalf("seed %d: %s", seed, v)
		}
		for k, v := range s.counts {
			total[k] += v
		}
	}
	t.Logf("over 300 seeds: %v", total)
	for _, what := range []string{"slow store", "failing store", "wiped keyspace", "replica full", "consumer restart",
		"won the lease far behind", "lagging leader gave up",
		"snapshot", "trim", "restore", "remove asked", "member removed", "admin request done",
		"crash during restore", "crash right after a trim", "broken store",
		"read index under the lease", "read index through the log",
		"forward again", "answered after a hand-over again"} {
		if total[what] == 0 {
			t.Errorf("%q never happened in 300 seeds", what)
		}
	}
}
