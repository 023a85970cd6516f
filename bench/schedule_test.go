package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when a sleeper asks: Sleep(d)
// advances it by max(d, step), as a coarse timer would.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	step   time.Duration
	sleeps int
	settle func() // if set, runs before time moves
}

func newFakeClock(step time.Duration) *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), step: step}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if c.settle != nil {
		c.settle()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(max(d, c.step))
	c.sleeps++
	return true
}

func TestScheduleAt(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Schedule{Start: start, Rate: 3}
	for i, want := range []time.Duration{0, 333333333, 666666667, time.Second, 1333333333} {
		if got := s.At(int64(i)).Sub(start); got != want {
			t.Errorf("At(%d) = %v, want %v", i, got, want)
		}
	}
	// No drift: the millionth operation at 20,000/s is due at exactly 50s.
	if got := (Schedule{Start: start, Rate: 20000}).At(1000000).Sub(start); got != 50*time.Second {
		t.Errorf("At(1e6) at 20000/s = %v", got)
	}
}

func TestScheduleCountBefore(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rate := range []float64{0.5, 1, 3, 7, 1000, 1234.5, 33333} {
		s := Schedule{Start: start, Rate: rate}
		for _, d := range []time.Duration{0, 1, time.Millisecond, 333333333, time.Second, 2 * time.Second, 2500 * time.Millisecond, 15 * time.Second} {
			n := s.CountBefore(d)
			if n > 0 && s.At(n-1).Sub(start) >= d {
				t.Errorf("rate %v, %v: %d due before, but op %d is due at %v", rate, d, n, n-1, s.At(n-1).Sub(start))
			}
			if s.At(n).Sub(start) < d {
				t.Errorf("rate %v, %v: %d due before, but op %d is due at %v too", rate, d, n, n, s.At(n).Sub(start))
			}
		}
	}
	if n := (Schedule{Start: start, Rate: 1000}).CountBefore(1500 * time.Millisecond); n != 1500 {
		t.Errorf("1000/s for 1.5s: %d", n)
	}
}

type fired struct {
	i      int64
	at, in time.Time // scheduled, and the clock when fired
}

func TestDispatchFiresOnSchedule(t *testing.T) {
	clk := newFakeClock(0)
	start := clk.Now()
	s := Schedule{Start: start, Rate: 1000}
	var got []fired
	n := dispatch(context.Background(), clk, s, 500, func(i int64, at time.Time) {
		got = append(got, fired{i, at, clk.Now()})
	})
	if n != 500 || len(got) != 500 {
		t.Fatalf("fired %d (returned %d), want 500", len(got), n)
	}
	for k, f := range got {
		want := start.Add(time.Duration(k) * time.Millisecond)
		if f.i != int64(k) || !f.at.Equal(want) || !f.in.Equal(want) {
			t.Fatalf("fire %d: op %d scheduled %v fired %v, want op %d at %v", k, f.i, f.at.Sub(start), f.in.Sub(start), k, want.Sub(start))
		}
	}
	if clk.sleeps != 499 { // op 0 is due at once
		t.Fatalf("%d sleeps", clk.sleeps)
	}
}

// A generator that wakes late fires the backlog at once but keeps every
// operation's scheduled time: the schedule does not shift, and latency
// measured from it includes the lateness.
func TestDispatchLateKeepsScheduledTimes(t *testing.T) {
	clk := newFakeClock(10 * time.Millisecond) // a timer that fires 10ms at a time
	start := clk.Now()
	s := Schedule{Start: start, Rate: 1000}
	var got []fired
	dispatch(context.Background(), clk, s, 1000, func(i int64, at time.Time) {
		got = append(got, fired{i, at, clk.Now()})
	})
	if len(got) != 1000 {
		t.Fatalf("fired %d", len(got))
	}
	late := 0
	for k, f := range got {
		if want := start.Add(time.Duration(k) * time.Millisecond); !f.at.Equal(want) {
			t.Fatalf("op %d scheduled at %v, want %v", k, f.at.Sub(start), want.Sub(start))
		}
		lag := f.in.Sub(f.at)
		if lag < 0 || lag >= 10*time.Millisecond {
			t.Fatalf("op %d fired %v after its time", k, lag)
		}
		if lag > 0 {
			late++
		}
	}
	if late < 800 || clk.sleeps > 101 {
		t.Fatalf("%d late fires in %d sleeps: the clock was not coarse", late, clk.sleeps)
	}
}

func TestDispatchStopsWhenCancelled(t *testing.T) {
	clk := newFakeClock(0)
	ctx, cancel := context.WithCancel(context.Background())
	var count int64
	n := dispatch(ctx, clk, Schedule{Start: clk.Now(), Rate: 100}, 1000, func(i int64, _ time.Time) {
		count++
		if count == 42 {
			cancel()
		}
	})
	if n != 42 || count != 42 {
		t.Fatalf("fired %d, returned %d, want 42", count, n)
	}
}

func TestLauncherDropsWhenFull(t *testing.T) {
	l := newLauncher(2)
	release := make(chan struct{})
	var mu sync.Mutex
	ran := 0
	op := func() {
		<-release
		mu.Lock()
		ran++
		mu.Unlock()
	}
	var launched []bool
	for range 5 {
		launched = append(launched, l.launch(op))
	}
	want := []bool{true, true, false, false, false}
	for i := range want {
		if launched[i] != want[i] {
			t.Fatalf("launched %v, want %v", launched, want)
		}
	}
	if l.inFlight() != 2 {
		t.Fatalf("%d in flight", l.inFlight())
	}
	close(release)
	l.wait()
	if ran != 2 || l.inFlight() != 0 {
		t.Fatalf("ran %d, %d in flight", ran, l.inFlight())
	}
	if !l.launch(func() {}) {
		t.Fatal("a free launcher refused")
	}
	l.wait()
}
