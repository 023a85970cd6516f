package jsassets

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Patiently runs fn, and again after a growing pause (250 ms, doubling up
// to 5 s) while retry says its error is JetStream being briefly slow or
// unavailable, until ctx ends: a worker started while a NATS cluster
// elects a leader, or is busy, must wait, not exit. what names what fn
// does, for the log; the last error is returned.
func Patiently(ctx context.Context, log *slog.Logger, what string, retry func(error) bool, fn func() error) error {
	pause := 250 * time.Millisecond
	for {
		err := fn()
		if err == nil || ctx.Err() != nil || !retry(err) {
			return err
		}
		log.Warn(what+" failed; trying again", "err", err, "in", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// Busy reports an error that says JetStream did not answer in time or is
// briefly unavailable (503), not that anything is wrong with an asset.
func Busy(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || (errors.As(err, &api) && api.Code == 503)
}

// Always retries any error (for a step whose every failure at start is
// worth waiting out).
func Always(error) bool { return true }
