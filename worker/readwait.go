package worker

import (
	"context"
	"sync"
	"sync/atomic"
)

// appliedWatch wakes readers waiting for the replica to apply a seq: the
// apply loop calls advance after storing its progress, and a waiter
// re-checks on every wake-up, so nothing polls.
type appliedWatch struct {
	mu   sync.Mutex
	last uint64
	ch   chan struct{} // closed at the next advance
}

// advance notes that the replica has applied seq.
func (a *appliedWatch) advance(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.last {
		return
	}
	a.last = seq
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
}

func (a *appliedWatch) next() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	return a.ch
}

// wait returns once applied reaches seq, or ctx's error. applied is
// stored before advance is called, so a wake-up is never missed.
func (a *appliedWatch) wait(ctx context.Context, applied *atomic.Uint64, seq uint64) error {
	for {
		ch := a.next()
		if applied.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
