package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the processor time a run cost over its measured part: the
// processes of the system under test (CPUPids: the workers and NATS, or
// etcd's members), the store's (StorePids: Cassandra, counted on its own
// so that a direct run and a Chorus run compare), this load generator,
// and how busy the whole machine was. On a machine the load shares, CPU
// per operation says what a throughput is worth: at C µs per operation,
// N cores can do at most N×10⁶/C operations per second.
type CPU struct {
	Pids             []int   `json:"pids"`
	SystemSeconds    float64 `json:"system_s"`
	GeneratorSeconds float64 `json:"generator_s"`
	SystemPerOp      float64 `json:"system_us_per_op"`    // µs per successful operation
	GeneratorPerOp   float64 `json:"generator_us_per_op"` // µs per successful operation
	StorePids        []int   `json:"store_pids,omitempty"`
	StoreSeconds     float64 `json:"store_s,omitempty"`
	StorePerOp       float64 `json:"store_us_per_op,omitempty"` // µs per successful operation
	// Busy is the fraction of all the machine's CPU time, over the
	// measured part, that was not idle (/proc/stat); Cores counts them.
	Busy  float64 `json:"machine_busy,omitempty"`
	Cores int     `json:"cores,omitempty"`
	Error string  `json:"error,omitempty"` // why it could not be measured
}

// userHZ is the unit of /proc/<pid>/stat's times: USER_HZ, fixed at 100
// by the Linux ABI on the architectures Go builds for.
const userHZ = 100

// ProcessCPU is the user and system time pid has used, from
// /proc/<pid>/stat (Linux).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted below start after its closing parenthesis, at field 3.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat %q", pid, b)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("process %d: unexpected /proc stat %q", pid, b)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// selfCPU is this process's user and system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineCPU is the machine's CPU time so far, from the first line of
// /proc/stat (Linux), in USER_HZ ticks: busy (user, nice, system, irq,
// softirq, steal) and all (busy, idle and iowait); and its cores.
func MachineCPU() (busy, all int64, cores int, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	f := strings.Fields(lines[0])
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("unexpected first line of /proc/stat: %q", lines[0])
	}
	var n [8]int64 // user nice system idle iowait irq softirq steal
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("unexpected first line of /proc/stat: %q", lines[0])
		}
	}
	busy = n[0] + n[1] + n[2] + n[5] + n[6] + n[7]
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			cores++
		}
	}
	return busy, busy + n[3] + n[4], cores, nil
}

// cpuMark is the CPU time used so far by the system's pids, the store's,
// this process and the whole machine.
type cpuMark struct {
	system, store, self time.Duration
	busy, all           int64
	cores               int
	err                 error
}

func markCPU(pids, storePids []int) cpuMark {
	m := cpuMark{self: selfCPU()}
	sum := func(pids []int) (t time.Duration) {
		for _, p := range pids {
			d, err := ProcessCPU(p)
			if err != nil {
				m.err = err
			}
			t += d
		}
		return t
	}
	m.system, m.store = sum(pids), sum(storePids)
	if m.err == nil {
		m.busy, m.all, m.cores, m.err = MachineCPU()
	}
	return m
}

// cpuBetween is the CPU of the pids, the store's pids, this process and
// the machine from a to b, per each of ok operations.
func cpuBetween(pids, storePids []int, a, b cpuMark, ok int64) *CPU {
	c := &CPU{Pids: pids, StorePids: storePids}
	switch {
	case a.err != nil:
		c.Error = a.err.Error()
	case b.err != nil:
		c.Error = b.err.Error() // a process ended during the run
	default:
		c.SystemSeconds, c.GeneratorSeconds = (b.system - a.system).Seconds(), (b.self - a.self).Seconds()
		c.StoreSeconds = (b.store - a.store).Seconds()
		if ok > 0 {
			c.SystemPerOp = c.SystemSeconds * 1e6 / float64(ok)
			c.GeneratorPerOp = c.GeneratorSeconds * 1e6 / float64(ok)
			c.StorePerOp = c.StoreSeconds * 1e6 / float64(ok)
		}
		if all := b.all - a.all; all > 0 {
			c.Busy, c.Cores = float64(b.busy-a.busy)/float64(all), b.cores
		}
	}
	return c
}

// ParsePids reads a comma-separated list of process ids ("" is none).
func ParsePids(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		out = append(out, p)
	}
	return out, nil
}
