package jsassets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPatientlyRetriesOnlyABusyJetStream: a start-up step that JetStream
// did not answer in time (or answered 503) is asked again until it
// succeeds; any other error, and the end of ctx, end it at once.
func TestPatientlyRetriesOnlyABusyJetStream(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy := []error{
		fmt.Errorf("listing snapshots: %w", context.DeadlineExceeded),
		nats.ErrTimeout,
		jetstream.ErrNoStreamResponse,
		&jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"},
	}
	calls := 0
	err := Patiently(ctx, log, "the test's read", Busy, func() error {
		calls++
		if calls <= len(busy) {
			return busy[calls-1]
		}
		return nil
	})
	if err != nil || calls != len(busy)+1 {
		t.Fatalf("patiently: %v after %d calls; want success after %d busy answers", err, calls, len(busy))
	}
	permanent := errors.New("keyspace has applied seq 9 but the log ends at 3")
	calls = 0
	if err := Patiently(ctx, log, "the test's read", Busy, func() error { calls++; return permanent }); !errors.Is(err, permanent) || calls != 1 {
		t.Fatalf("a permanent error: %v after %d calls; want it returned at once", err, calls)
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	calls = 0
	if err := Patiently(done, log, "the test's read", Busy, func() error { calls++; return nats.ErrTimeout }); err == nil || calls != 1 {
		t.Fatalf("ctx ended: %v after %d calls; want the error at once", err, calls)
	}
}
