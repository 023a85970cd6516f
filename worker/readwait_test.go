package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppliedWatchWakesWaiters(t *testing.T) {
	var a appliedWatch
	var applied atomic.Uint64
	applied.Store(5)
	if err := a.wait(context.Background(), &applied, 5); err != nil {
		t.Fatalf("waiting for a seq already applied: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.wait(context.Background(), &applied, 9) }()
	for seq := uint64(6); seq <= 9; seq++ {
		select {
		case err := <-done:
			t.Fatalf("woke at seq %d before 9 was applied: %v", seq-1, err)
		default:
		}
		applied.Store(seq)
		a.advance(seq)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := a.wait(ctx, &applied, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a seq never applied: %v", err)
	}
}
