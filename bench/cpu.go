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
// etcd's members) and this load generator. On a machine the load shares,
// CPU per operation says what a throughput is worth: at C µs per
// operation, N cores can do at most N×10⁶/C operations per second.
type CPU struct {
	Pids             []int   `json:"pids"`
	SystemSeconds    float64 `json:"system_s"`
	GeneratorSeconds float64 `json:"generator_s"`
	SystemPerOp      float64 `json:"system_us_per_op"`    // µs per successful operation
	GeneratorPerOp   float64 `json:"generator_us_per_op"` // µs per successful operation
	Error            string  `json:"error,omitempty"`     // why it could not be measured
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

// cpuMark is the CPU time used so far by the pids and by this process.
type cpuMark struct {
	system, self time.Duration
	err          error
}

func markCPU(pids []int) cpuMark {
	m := cpuMark{self: selfCPU()}
	for _, p := range pids {
		d, err := ProcessCPU(p)
		if err != nil {
			m.err = err
			return m
		}
		m.system += d
	}
	return m
}

// cpuBetween is the CPU of the pids and of this process from a to b, per
// each of ok operations.
func cpuBetween(pids []int, a, b cpuMark, ok int64) *CPU {
	c := &CPU{Pids: pids}
	switch {
	case a.err != nil:
		c.Error = a.err.Error()
	case b.err != nil:
		c.Error = b.err.Error() // a process ended during the run
	default:
		c.SystemSeconds, c.GeneratorSeconds = (b.system - a.system).Seconds(), (b.self - a.self).Seconds()
		if ok > 0 {
			c.SystemPerOp = c.SystemSeconds * 1e6 / float64(ok)
			c.GeneratorPerOp = c.GeneratorSeconds * 1e6 / float64(ok)
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
