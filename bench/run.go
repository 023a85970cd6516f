package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Executor runs one statement and returns when it is done (for Chorus: when
// the SUCCESS or ERROR reply arrived).
type Executor interface {
	Exec(ctx context.Context, stmt string) error
}

// ExecFunc adapts a function to Executor.
type ExecFunc func(ctx context.Context, stmt string) error

// Exec implements Executor.
func (f ExecFunc) Exec(ctx context.Context, stmt string) error { return f(ctx, stmt) }

// Options of a run. Exactly one of Duration and Requests bounds the measured
// part, which follows Warmup (operations sent during the warmup are not
// counted).
type Options struct {
	Concurrency int           // closed loop: goroutines sending back to back
	Duration    time.Duration // measured time, after the warmup
	Requests    int64         // measured operations, after the warmup
	Warmup      time.Duration // load before measuring
	Rate        float64       // open loop: operations per second; 0: closed loop
	MaxInFlight int           // open loop: most outstanding operations; more are dropped
	Timeout     time.Duration // of one operation, retries included
	Workload    Workload

	// CPUPids are the processes of the system under test whose CPU time
	// over the measured part the result reports (Result.CPU; Linux), with
	// this process's own. It is sampled on the real clock.
	CPUPids []int
	// StorePids are the store's processes (Cassandra): their CPU is
	// reported on its own (CPU.StorePerOp), in a direct run and a Chorus
	// run alike, so the two compare.
	StorePids []int

	// Clock is the time source (nil: RealClock).
	Clock Clock
	// Progress, if set, is called every ProgressEvery (default 250ms) of
	// real time with the run's state, from its own goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Defaults for the command line.
const (
	DefaultConcurrency = 32
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = 2 * time.Second
	DefaultMaxInFlight = 1024
	DefaultTimeout     = 10 * time.Second
)

// Validate names every bad option.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Concurrency < 1 {
		bad("concurrency must be at least 1, got %d", o.Concurrency)
	}
	switch {
	case o.Duration < 0:
		bad("duration must not be negative, got %s", o.Duration)
	case o.Requests < 0:
		bad("requests must not be negative, got %d", o.Requests)
	case o.Duration > 0 && o.Requests > 0:
		bad("give a duration or a number of requests, not both")
	case o.Duration == 0 && o.Requests == 0:
		bad("give a duration or a number of requests")
	}
	if o.Warmup < 0 {
		bad("warmup must not be negative, got %s", o.Warmup)
	}
	if math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0 {
		bad("rate must be a positive number of operations per second, or 0 for a closed loop; got %v", o.Rate)
	}
	if o.Rate > 0 && o.MaxInFlight < 1 {
		bad("max in-flight must be at least 1 with a rate, got %d", o.MaxInFlight)
	}
	if o.Timeout <= 0 {
		bad("timeout must be positive, got %s", o.Timeout)
	}
	if err := o.Workload.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Loop is "open" with a rate, "closed" without.
func (o Options) Loop() string {
	if o.Rate > 0 {
		return "open"
	}
	return "closed"
}

// Progress is the state of a run, for a progress display.
type Progress struct {
	Phase    string        // "warmup", "run", "drain" (waiting for the last replies) or "done"
	Elapsed  time.Duration // since the start of the phase (warmup or run)
	Duration time.Duration // the measured duration (0 with Requests)
	Requests int64         // the measured requests (0 with Duration)
	Done     int64         // measured operations finished (ok, failed or dropped)
	OK       int64
	Errors   int64
	Dropped  int64
	InFlight int64
	Rate     float64       // completions per second over the last interval
	P99      time.Duration // so far
}

// Fraction is how much of the measured part is done, in [0, 1].
func (p Progress) Fraction() float64 {
	var f float64
	switch {
	case p.Phase == "warmup":
		return 0
	case p.Requests > 0:
		f = float64(p.Done) / float64(p.Requests)
	case p.Duration > 0:
		f = p.Elapsed.Seconds() / p.Duration.Seconds()
	}
	return min(max(f, 0), 1)
}

// Result is what a run measured. Latencies are in milliseconds.
type Result struct {
	Target         string           `json:"target"` // "chorus" or "direct"
	Loop           string           `json:"loop"`   // "closed" or "open"
	Concurrency    int              `json:"concurrency,omitempty"`
	OfferedRate    float64          `json:"offered_rate,omitempty"`
	MaxInFlight    int              `json:"max_inflight,omitempty"`
	Warmup         float64          `json:"warmup_s"`
	Elapsed        float64          `json:"elapsed_s"` // measured time, from the end of the warmup to the last reply
	Requests       int64            `json:"requests"`  // measured operations, dropped ones included
	OK             int64            `json:"ok"`
	Errors         int64            `json:"errors"`
	Dropped        int64            `json:"dropped"`
	ErrorKinds     map[string]int64 `json:"error_kinds,omitempty"`
	FirstErrors    []string         `json:"first_errors,omitempty"`
	WarmupOK       int64            `json:"warmup_ok"`
	WarmupErrors   int64            `json:"warmup_errors"`
	Throughput     float64          `json:"throughput"` // successful operations per second
	Latency        Latency          `json:"latency_ms"`
	MaxScheduleLag float64          `json:"max_schedule_lag_ms,omitempty"` // open loop: how late the generator fired
	CDF            []CDFPoint       `json:"cdf,omitempty"`
	Interrupted    bool             `json:"interrupted,omitempty"`
	CPU            *CPU             `json:"cpu,omitempty"` // with Options.CPUPids or StorePids
}

// Latency summarises the successful operations' latencies, in ms.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// CDFPoint is a point of the latency distribution: a fraction Q of the
// operations took at most Ms milliseconds.
type CDFPoint struct {
	Q  float64 `json:"q"`
	Ms float64 `json:"ms"`
}

// maxFirstErrors is how many distinct error messages a result keeps.
const maxFirstErrors = 5

// recorder collects the outcomes of measured operations.
type recorder struct {
	mu     sync.Mutex
	hist   Histogram
	kinds  map[string]int64
	first  []string
	last   time.Time // the last measured completion
	maxLag time.Duration

	ok, errs, dropped atomic.Int64 // measured
	warmOK, warmErrs  atomic.Int64
	inFlight          atomic.Int64
}

func newRecorder() *recorder { return &recorder{kinds: map[string]int64{}} }

// done records a measured operation that ended at end after lat.
func (r *recorder) done(lat time.Duration, end time.Time, err error) {
	if err == nil {
		r.ok.Add(1)
	} else {
		r.errs.Add(1)
	}
	r.mu.Lock()
	if err == nil {
		r.hist.Record(lat)
	} else {
		r.kinds[ErrorKind(err)]++
		if len(r.first) < maxFirstErrors {
			msg := err.Error()
			seen := false
			for _, m := range r.first {
				seen = seen || m == msg
			}
			if !seen {
				r.first = append(r.first, msg)
			}
		}
	}
	if end.After(r.last) {
		r.last = end
	}
	r.mu.Unlock()
}

func (r *recorder) warm(err error) {
	if err == nil {
		r.warmOK.Add(1)
	} else {
		r.warmErrs.Add(1)
	}
}

func (r *recorder) lag(d time.Duration) {
	r.mu.Lock()
	r.maxLag = max(r.maxLag, d)
	r.mu.Unlock()
}

func (r *recorder) p99() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hist.Quantile(0.99)
}

// Run drives the workload through ex as o says and returns what it
// measured. Cancelling ctx stops sending (the operations in flight still
// finish, within o.Timeout) and returns the partial result, marked
// Interrupted; the error is nil unless the options are invalid.
func Run(ctx context.Context, o Options, ex Executor) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	clk := o.Clock
	if clk == nil {
		clk = RealClock{}
	}
	rec := newRecorder()
	start := clk.Now()
	measureFrom := start.Add(o.Warmup)
	var measureUntil time.Time
	if o.Duration > 0 {
		measureUntil = measureFrom.Add(o.Duration)
	}
	// Operations keep their own context: stopping the run must not turn
	// the replies in flight into errors.
	opCtx := context.WithoutCancel(ctx)

	stopProgress := startProgress(o, clk, rec, measureFrom)
	var cpuFrom chan cpuMark
	if len(o.CPUPids)+len(o.StorePids) > 0 {
		cpuFrom = make(chan cpuMark, 1)
		t := time.AfterFunc(o.Warmup, func() { cpuFrom <- markCPU(o.CPUPids, o.StorePids) })
		defer t.Stop()
	}
	if o.Rate > 0 {
		openLoop(ctx, opCtx, o, clk, ex, rec, start, newLauncher(o.MaxInFlight))
	} else {
		closedLoop(ctx, opCtx, o, clk, ex, rec, measureFrom, measureUntil)
	}
	stopProgress()

	res := rec.result(o, measureFrom)
	res.Interrupted = ctx.Err() != nil
	if cpuFrom != nil {
		to := markCPU(o.CPUPids, o.StorePids)
		select {
		case from := <-cpuFrom:
			res.CPU = cpuBetween(o.CPUPids, o.StorePids, from, to, res.OK)
		default: // stopped before the warmup ended
		}
	}
	return res, nil
}

func closedLoop(ctx, opCtx context.Context, o Options, clk Clock, ex Executor, rec *recorder, measureFrom, measureUntil time.Time) {
	var next, claimed atomic.Int64
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				begin := clk.Now()
				measured := !begin.Before(measureFrom)
				if measured {
					if o.Requests > 0 {
						if claimed.Add(1) > o.Requests {
							return
						}
					} else if !begin.Before(measureUntil) {
						return
					}
				}
				i := next.Add(1) - 1
				rec.inFlight.Add(1)
				err := execOne(opCtx, o.Timeout, ex, o.Workload.Statement(i))
				rec.inFlight.Add(-1)
				end := clk.Now()
				if measured {
					rec.done(end.Sub(begin), end, err)
				} else {
					rec.warm(err)
				}
			}
		}()
	}
	wg.Wait()
}

func openLoop(ctx, opCtx context.Context, o Options, clk Clock, ex Executor, rec *recorder, start time.Time, l *launcher) {
	s := Schedule{Start: start, Rate: o.Rate}
	warmN := s.CountBefore(o.Warmup)
	total := warmN + o.Requests
	if o.Duration > 0 {
		total = s.CountBefore(o.Warmup + o.Duration)
	}
	dispatch(ctx, clk, s, total, func(i int64, at time.Time) {
		measured := i >= warmN
		if measured {
			rec.lag(clk.Now().Sub(at))
		}
		ok := l.launch(func() {
			rec.inFlight.Add(1)
			err := execOne(opCtx, o.Timeout, ex, o.Workload.Statement(i))
			rec.inFlight.Add(-1)
			end := clk.Now()
			if measured {
				rec.done(end.Sub(at), end, err) // from the scheduled time
			} else {
				rec.warm(err)
			}
		})
		if !ok && measured {
			rec.dropped.Add(1)
		}
	})
	l.wait()
}

func execOne(ctx context.Context, timeout time.Duration, ex Executor, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return ex.Exec(ctx, stmt)
}

// startProgress calls o.Progress periodically until the returned stop is
// called (which makes a last call).
func startProgress(o Options, clk Clock, rec *recorder, measureFrom time.Time) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	var lastFinished int64
	lastAt := clk.Now()
	snapshot := func(final bool) Progress {
		now := clk.Now()
		p := Progress{
			Duration: o.Duration, Requests: o.Requests,
			OK: rec.ok.Load(), Errors: rec.errs.Load(), Dropped: rec.dropped.Load(),
			InFlight: rec.inFlight.Load(), P99: rec.p99(),
		}
		p.Done = p.OK + p.Errors + p.Dropped
		finished := p.OK + p.Errors + rec.warmOK.Load() + rec.warmErrs.Load()
		if dt := now.Sub(lastAt).Seconds(); dt > 0 {
			p.Rate = float64(finished-lastFinished) / dt
		}
		lastFinished, lastAt = finished, now
		switch {
		case final:
			p.Phase, p.Elapsed = "done", max(now.Sub(measureFrom), 0)
		case now.Before(measureFrom):
			p.Phase, p.Elapsed = "warmup", now.Sub(measureFrom.Add(-o.Warmup))
		default:
			p.Phase, p.Elapsed = "run", now.Sub(measureFrom)
			if o.Duration > 0 && p.Elapsed >= o.Duration || o.Requests > 0 && p.Done >= o.Requests {
				p.Phase = "drain"
			}
		}
		return p
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				o.Progress(snapshot(false))
			case <-done:
				o.Progress(snapshot(true))
				return
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// cdfQuantiles are the points of Result.CDF: evenly spaced on the
// "1/(1-q)" log scale of latency plots, from 0 to 99.999%.
var cdfQuantiles = func() []float64 {
	var qs []float64
	for k := 0; k <= 100; k++ {
		qs = append(qs, 1-math.Pow(10, -float64(k)/20))
	}
	return qs
}()

// result summarises the recorder.
func (r *recorder) result(o Options, measureFrom time.Time) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{
		Loop: o.Loop(), Warmup: o.Warmup.Seconds(),
		OK: r.ok.Load(), Errors: r.errs.Load(), Dropped: r.dropped.Load(),
		WarmupOK: r.warmOK.Load(), WarmupErrors: r.warmErrs.Load(),
		FirstErrors: r.first,
	}
	if o.Rate > 0 {
		res.OfferedRate, res.MaxInFlight = o.Rate, o.MaxInFlight
		res.MaxScheduleLag = ms(r.maxLag)
	} else {
		res.Concurrency = o.Concurrency
	}
	res.Requests = res.OK + res.Errors + res.Dropped
	if len(r.kinds) > 0 {
		res.ErrorKinds = r.kinds
	}
	if r.last.After(measureFrom) {
		res.Elapsed = r.last.Sub(measureFrom).Seconds()
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.OK) / res.Elapsed
	}
	h := &r.hist
	res.Latency = Latency{
		Min: ms(h.Min()), Mean: ms(h.Mean()), Max: ms(h.Max()),
		P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)),
	}
	if h.Count() > 0 {
		for _, q := range cdfQuantiles {
			res.CDF = append(res.CDF, CDFPoint{Q: q, Ms: ms(h.Quantile(q))})
			if math.Ceil(q*float64(h.Count())) >= float64(h.Count()) { // further: only the max
				break
			}
		}
		res.CDF = append(res.CDF, CDFPoint{Q: 1, Ms: ms(h.Max())})
	}
	return res
}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// SortedKinds is the error kinds of r, most frequent first.
func (r *Result) SortedKinds() []string {
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		a, b := r.ErrorKinds[kinds[i]], r.ErrorKinds[kinds[j]]
		return a > b || a == b && kinds[i] < kinds[j]
	})
	return kinds
}
