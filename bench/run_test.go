package bench

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// recordingExec remembers every statement and fails those fail says.
type recordingExec struct {
	mu    sync.Mutex
	stmts map[string]int
	fail  func(stmt string) error
}

func (r *recordingExec) Exec(_ context.Context, stmt string) error {
	r.mu.Lock()
	if r.stmts == nil {
		r.stmts = map[string]int{}
	}
	r.stmts[stmt]++
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail(stmt)
	}
	return nil
}

func TestRunClosedLoopRequests(t *testing.T) {
	ex := &recordingExec{}
	o := Options{Concurrency: 4, Requests: 300, Timeout: time.Second, Workload: DefaultWorkload}
	res, err := Run(context.Background(), o, ex)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 300 || res.Requests != 300 || res.Errors != 0 || res.Dropped != 0 {
		t.Fatalf("result %+v", res)
	}
	if len(ex.stmts) != 300 {
		t.Fatalf("%d distinct statements executed, want 300", len(ex.stmts))
	}
	for i := range int64(300) {
		if ex.stmts[DefaultWorkload.Statement(i)] != 1 {
			t.Fatalf("op %d executed %d times", i, ex.stmts[DefaultWorkload.Statement(i)])
		}
	}
	if res.Loop != "closed" || res.Concurrency != 4 || res.Throughput <= 0 || res.Elapsed <= 0 {
		t.Fatalf("result %+v", res)
	}
	if len(res.CDF) == 0 || res.CDF[len(res.CDF)-1].Q != 1 || res.CDF[len(res.CDF)-1].Ms != res.Latency.Max {
		t.Fatalf("cdf %+v, max %v", res.CDF, res.Latency.Max)
	}
}

func TestRunCountsErrorsByKind(t *testing.T) {
	var n atomic.Int64
	ex := &recordingExec{fail: func(string) error {
		switch n.Add(1) % 10 {
		case 1:
			return &client.Error{Code: messages.CodeCQL, Message: "unconfigured table bench_list", Server: "server1"}
		case 2:
			return client.ErrTimeout
		}
		return nil
	}}
	res, err := Run(context.Background(), Options{Concurrency: 2, Requests: 100, Timeout: time.Second, Workload: DefaultWorkload}, ex)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 80 || res.Errors != 20 || res.ErrorKinds["CQL"] != 10 || res.ErrorKinds["TIMEOUT"] != 10 {
		t.Fatalf("ok %d errors %d kinds %v", res.OK, res.Errors, res.ErrorKinds)
	}
	if len(res.FirstErrors) != 2 {
		t.Fatalf("first errors %q, want the 2 distinct messages", res.FirstErrors)
	}
	var text strings.Builder
	if err := WriteText(&text, &Report{Runs: []*Result{res}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "errors      CQL 10, TIMEOUT 10") {
		t.Fatalf("text:\n%s", text.String())
	}
}

// In an open loop, latency counts from the scheduled send time: when the
// generator fires late, the lateness is part of the latency even though the
// executor itself answers at once.
func TestRunOpenLoopMeasuresFromSchedule(t *testing.T) {
	clk := newFakeClock(10 * time.Millisecond) // the generator wakes every 10ms
	l := newLauncher(10000)
	// Time moves only once every fired write has been answered and recorded,
	// so each one is answered at the time it was fired.
	clk.settle = func() {
		deadline := time.Now().Add(10 * time.Second)
		for l.inFlight() > 0 {
			if time.Now().After(deadline) {
				panic("writes did not finish")
			}
			runtime.Gosched()
		}
	}
	ex := &recordingExec{}
	o := Options{
		Rate: 1000, Duration: time.Second, Warmup: 100 * time.Millisecond, MaxInFlight: 10000,
		Concurrency: 1, Timeout: time.Second, Workload: DefaultWorkload, Clock: clk,
	}
	rec := newRecorder()
	start := clk.Now()
	openLoop(context.Background(), context.Background(), o, clk, ex, rec, start, l)
	res := rec.result(o, start.Add(o.Warmup))
	if res.WarmupOK != 100 || res.OK != 1000 || res.Requests != 1000 || res.Dropped != 0 || len(ex.stmts) != 1100 {
		t.Fatalf("warmup %d, ok %d of %d, dropped %d, executed %d", res.WarmupOK, res.OK, res.Requests, res.Dropped, len(ex.stmts))
	}
	// Fired in 10ms bursts: latencies 0..9ms, evenly.
	// Percentiles are bucket upper bounds: at most 1/128 above.
	near := func(got, want float64) bool { return got >= want && got <= want*(1+1.0/subHalf) }
	if res.Latency.Min != 0 || res.Latency.Max != 9 || !near(res.Latency.P50, 4) || !near(res.Latency.P90, 8) || res.MaxScheduleLag != 9 {
		t.Fatalf("latency %+v, lag %v", res.Latency, res.MaxScheduleLag)
	}
	if res.Loop != "open" || res.OfferedRate != 1000 || res.Throughput < 990 || res.Throughput > 1011 {
		t.Fatalf("loop %s offered %v throughput %v (elapsed %v)", res.Loop, res.OfferedRate, res.Throughput, res.Elapsed)
	}
}

// Beyond MaxInFlight outstanding, an open loop drops operations and counts
// them instead of waiting (which would hide the stall).
func TestRunOpenLoopDropsBeyondMaxInFlight(t *testing.T) {
	clk := newFakeClock(0)
	release := make(chan struct{})
	var calls atomic.Int64
	ex := ExecFunc(func(ctx context.Context, _ string) error {
		if calls.Add(1) == 1 {
			select { // the first write hangs until the test lets it go
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	o := Options{
		Rate: 100, Requests: 50, MaxInFlight: 1, Concurrency: 1, Timeout: time.Minute,
		Workload: DefaultWorkload, Clock: clk,
		Progress: func(p Progress) {
			if p.Dropped == 49 {
				select {
				case <-release:
				default:
					close(release)
				}
			}
		},
		ProgressEvery: time.Millisecond,
	}
	res, err := Run(context.Background(), o, ex)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 1 || res.Dropped != 49 || res.Requests != 50 || calls.Load() != 1 {
		t.Fatalf("ok %d dropped %d requests %d calls %d", res.OK, res.Dropped, res.Requests, calls.Load())
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	ex := ExecFunc(func(opCtx context.Context, _ string) error {
		if n.Add(1) == 100 {
			cancel()
		}
		return opCtx.Err() // the operation's own context is not cancelled
	})
	res, err := Run(ctx, Options{Concurrency: 3, Duration: time.Hour, Timeout: time.Second, Workload: DefaultWorkload}, ex)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.OK < 100 || res.Errors != 0 {
		t.Fatalf("interrupted %v ok %d errors %d", res.Interrupted, res.OK, res.Errors)
	}
}

func TestOptionsValidate(t *testing.T) {
	good := Options{Concurrency: 1, Duration: time.Second, Timeout: time.Second, Workload: DefaultWorkload}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Concurrency = 0 }, "concurrency must be at least 1"},
		{func(o *Options) { o.Requests = 5 }, "not both"},
		{func(o *Options) { o.Duration = 0 }, "give a duration or a number of requests"},
		{func(o *Options) { o.Rate = -1 }, "rate must be"},
		{func(o *Options) { o.Rate = 10 }, "max in-flight must be at least 1"},
		{func(o *Options) { o.Timeout = 0 }, "timeout must be positive"},
		{func(o *Options) { o.Warmup = -1 }, "warmup must not be negative"},
		{func(o *Options) { o.Workload.Mix = 2 }, "mix must be between 0 and 1"},
	} {
		o := good
		c.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
	if _, err := Run(context.Background(), Options{}, ExecFunc(nil)); err == nil {
		t.Fatal("Run accepted empty options")
	}
}

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&client.Error{Code: messages.CodeUnavailable}, "UNAVAILABLE"},
		{client.ErrTimeout, "TIMEOUT"},
		{context.DeadlineExceeded, "TIMEOUT"},
		{client.ErrNoWorkers, "NO_WORKERS"},
		{errors.New("boom"), "OTHER"},
	} {
		if got := ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
