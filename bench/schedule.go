package bench

import (
	"context"
	"math"
	"sync"
	"time"
)

// Clock is the time source of a run: real time in use, a fake one in tests.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done; false if ctx ended it.
	Sleep(ctx context.Context, d time.Duration) bool
}

// RealClock is the wall clock (monotonic readings).
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Schedule is the send times of an open-loop run: operation i is due at
// Start + i/Rate.
type Schedule struct {
	Start time.Time
	Rate  float64 // operations per second, > 0
}

// At is the time operation i is due.
func (s Schedule) At(i int64) time.Time {
	return s.Start.Add(time.Duration(math.Round(float64(i) * float64(time.Second) / s.Rate)))
}

// CountBefore is the number of operations due strictly before offset d
// from Start: the first index due at or after d.
func (s Schedule) CountBefore(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(math.Ceil(d.Seconds() * s.Rate))
	// Correct the float estimate against At's rounding.
	for n > 0 && s.At(n-1).Sub(s.Start) >= d {
		n--
	}
	for s.At(n).Sub(s.Start) < d {
		n++
	}
	return n
}

// dispatch fires operations 0..total-1 at their scheduled times: it sleeps
// until the next one is due, then fires every operation that is due, each
// with its scheduled time (not the time it was actually fired, which is later
// when the generator or the machine falls behind). It returns how many it
// fired; fewer than total if ctx ended first.
func dispatch(ctx context.Context, clk Clock, s Schedule, total int64, fire func(i int64, at time.Time)) int64 {
	for i := int64(0); i < total; i++ {
		at := s.At(i)
		if d := at.Sub(clk.Now()); d > 0 {
			if !clk.Sleep(ctx, d) {
				return i
			}
		} else if ctx.Err() != nil {
			return i
		}
		fire(i, at)
	}
	return total
}

// launcher runs operations in goroutines, at most cap(sem) at a time; an
// operation launched while all slots are busy is refused (dropped) rather
// than queued, so the schedule never waits for the system under test.
type launcher struct {
	sem chan struct{}
	wg  sync.WaitGroup
}

func newLauncher(maxInFlight int) *launcher {
	return &launcher{sem: make(chan struct{}, maxInFlight)}
}

// launch runs op in a new goroutine if a slot is free; false if not.
func (l *launcher) launch(op func()) bool {
	select {
	case l.sem <- struct{}{}:
	default:
		return false
	}
	l.wg.Add(1)
	go func() {
		defer func() { <-l.sem; l.wg.Done() }()
		op()
	}()
	return true
}

// wait waits for every launched operation to end.
func (l *launcher) wait() { l.wg.Wait() }

// inFlight is the number of running operations.
func (l *launcher) inFlight() int { return len(l.sem) }
