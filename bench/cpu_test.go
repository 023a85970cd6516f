package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The CPU of a process that spins is counted, in about the time it spun;
// an idle one's is not.
func TestProcessCPUCountsWhatAProcessUses(t *testing.T) {
	spin := exec.Command("sh", "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Skipf("no shell to spin: %v", err)
	}
	defer func() { _ = spin.Process.Kill(); _ = spin.Wait() }()
	idle := exec.Command("sleep", "60")
	if err := idle.Start(); err != nil {
		t.Skipf("no sleep to idle: %v", err)
	}
	defer func() { _ = idle.Process.Kill(); _ = idle.Wait() }()
	before, err := ProcessCPU(spin.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var spun time.Duration
	for spun < 300*time.Millisecond { // poll until it has used that much
		if time.Now().After(deadline) {
			t.Fatalf("the spinning process used %s of CPU in 20s", spun)
		}
		now, err := ProcessCPU(spin.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		spun = now - before
	}
	if d, err := ProcessCPU(idle.Process.Pid); err != nil || d > 100*time.Millisecond {
		t.Fatalf("an idle process: %s, %v", d, err)
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Fatal("a process that does not exist has a CPU time")
	}
}

// A run with CPUPids reports their CPU and the generator's over the
// measured part, per operation; a pid that is gone is named, not hidden.
func TestRunReportsCPU(t *testing.T) {
	o := Options{Concurrency: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: time.Second,
		Workload: AppendWorkload, CPUPids: []int{os.Getpid()}}
	res, err := Run(context.Background(), o, spin)
	if err != nil {
		t.Fatal(err)
	}
	c := res.CPU
	if c == nil || c.Error != "" || c.SystemSeconds <= 0.05 || c.SystemPerOp <= 0 || c.GeneratorSeconds <= 0.05 {
		t.Fatalf("cpu: %+v over %d operations", c, res.OK)
	}
	o.CPUPids = []int{1 << 30}
	if res, err = Run(context.Background(), o, spin); err != nil || res.CPU == nil || res.CPU.Error == "" {
		t.Fatalf("a missing process: %+v, %v", res.CPU, err)
	}
	if _, err := ParsePids("12, 34,x"); err == nil {
		t.Fatal(`"x" taken as a process id`)
	}
	if p, err := ParsePids(" 12,34 ,"); err != nil || len(p) != 2 || p[1] != 34 {
		t.Fatalf("ParsePids: %v, %v", p, err)
	}
}

// The machine's CPU time grows, busy never above all of it; a run with
// StorePids reports the store's CPU on its own and how busy the machine
// was, with or without CPUPids.
func TestRunReportsStoreAndMachineCPU(t *testing.T) {
	busy1, all1, cores, err := MachineCPU()
	if err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	if cores < 1 || busy1 > all1 {
		t.Fatalf("MachineCPU: busy %d of %d over %d cores", busy1, all1, cores)
	}
	o := Options{Concurrency: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: time.Second,
		Workload: AppendWorkload, StorePids: []int{os.Getpid()}}
	res, err := Run(context.Background(), o, spin)
	if err != nil {
		t.Fatal(err)
	}
	c := res.CPU
	if c == nil || c.Error != "" || len(c.Pids) != 0 || c.SystemSeconds != 0 || c.StoreSeconds <= 0.05 || c.StorePerOp <= 0 {
		t.Fatalf("store cpu: %+v over %d operations", c, res.OK)
	}
	// Two goroutines spin: the machine was busy at least half a core's
	// share of the time (with room for a GOMAXPROCS of 1 and the ticks'
	// rounding), and never more than all of it.
	if c.Cores != cores || c.Busy < 0.5/float64(cores) || c.Busy > 1 {
		t.Fatalf("machine busy %.2f of %d cores while this process spun", c.Busy, c.Cores)
	}
	b, _, _, _ := MachineCPU()
	if b < busy1 {
		t.Fatalf("the machine's busy time went back: %d then %d", busy1, b)
	}
	o.StorePids = []int{1 << 30}
	if res, err = Run(context.Background(), o, spin); err != nil || res.CPU == nil || res.CPU.Error == "" {
		t.Fatalf("a missing store process: %+v, %v", res.CPU, err)
	}
}

// spin is an executor that keeps its client busy 200 µs per operation.
var spin = ExecFunc(func(context.Context, string) error {
	for end := time.Now().Add(200 * time.Microsecond); time.Now().Before(end); {
	}
	return nil
})
