package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProgressPrinter shows a run's Progress on W: on a terminal one line
// rewritten in place (with \r) with a bar; otherwise (logs, CI) a line every
// Every and at every change of phase. Use it as Options.Progress.
type ProgressPrinter struct {
	W     io.Writer
	TTY   bool
	Label string        // what runs, e.g. "chorus" or "direct"
	Every time.Duration // without a terminal; default 5s

	mu        sync.Mutex
	lastPhase string
	lastAt    time.Time
	lastLen   int
	now       func() time.Time // for tests
}

const barWidth = 24

// Update shows p.
func (pp *ProgressPrinter) Update(p Progress) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	now := time.Now
	if pp.now != nil {
		now = pp.now
	}
	line := pp.Line(p)
	if pp.TTY {
		pad := max(pp.lastLen-len(line), 0)
		fmt.Fprintf(pp.W, "\r%s%s", line, strings.Repeat(" ", pad))
		pp.lastLen = len(line)
		if p.Phase == "done" {
			fmt.Fprintln(pp.W)
			pp.lastLen = 0
		}
		return
	}
	every := pp.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	t := now()
	if p.Phase != pp.lastPhase || t.Sub(pp.lastAt) >= every {
		fmt.Fprintln(pp.W, line)
		pp.lastPhase, pp.lastAt = p.Phase, t
	}
}

// Line is the text shown for p.
func (pp *ProgressPrinter) Line(p Progress) string {
	var b strings.Builder
	if pp.Label != "" {
		b.WriteString(pp.Label)
		b.WriteString("  ")
	}
	switch p.Phase {
	case "warmup":
		fmt.Fprintf(&b, "warmup %s", round(p.Elapsed))
		fmt.Fprintf(&b, "  %s/s", thousands(int64(p.Rate)))
		return b.String()
	}
	f := p.Fraction()
	if pp.TTY {
		full := int(f * barWidth)
		b.WriteString("[" + strings.Repeat("#", full) + strings.Repeat("-", barWidth-full) + "] ")
	}
	fmt.Fprintf(&b, "%3.0f%%  %s", f*100, p.Phase)
	if p.Requests > 0 {
		fmt.Fprintf(&b, " %s/%s", thousands(p.Done), thousands(p.Requests))
	} else {
		fmt.Fprintf(&b, " %s/%s", round(p.Elapsed), p.Duration)
	}
	fmt.Fprintf(&b, "  ok %s  err %s", thousands(p.OK), thousands(p.Errors))
	if p.Dropped > 0 {
		fmt.Fprintf(&b, "  dropped %s", thousands(p.Dropped))
	}
	if p.Phase != "done" {
		fmt.Fprintf(&b, "  in flight %d  %s/s", p.InFlight, thousands(int64(p.Rate)))
	}
	if p.P99 > 0 {
		fmt.Fprintf(&b, "  p99 %s", FormatMs(ms(p.P99)))
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(100 * time.Millisecond)
}

// thousands formats n with thousands separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FormatUs is a CPU time per operation in µs: 4.1µs, 41µs, 412µs.
func FormatUs(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + "µs"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "µs"
}

// FormatMs formats a latency in milliseconds with 3 significant digits:
// 0.412ms, 4.12ms, 41.2ms, 412ms, 4120ms.
func FormatMs(v float64) string {
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64) + "ms"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + "ms"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	}
}

// FormatRate formats operations per second: 12,345/s or 12.3/s.
func FormatRate(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
	}
	return thousands(int64(v+0.5)) + "/s"
}
