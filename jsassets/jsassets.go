// Package jsassets keeps the JetStream assets Chorus creates (the ORDER
// stream, the lease bucket, the snapshot bucket) at the number of replicas
// the operator configured (CHORUS_LOG_REPLICAS).
package jsassets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas is JetStream's limit on the replicas of a stream.
const MaxReplicas = 5

// errNotClustered is the JetStream API error code for replicas > 1 on a
// server that is not part of a JetStream cluster.
const errNotClustered jetstream.ErrorCode = 10074

// Explain turns the error of creating an asset with replicas > 1 on a single
// server into one that says what to change; other errors pass unchanged.
func Explain(err error, asset string, replicas int) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errNotClustered {
		return fmt.Errorf("%s: CHORUS_LOG_REPLICAS=%d needs a JetStream cluster, but this NATS server runs alone; set CHORUS_LOG_REPLICAS=1 or connect to a cluster: %w", asset, replicas, err)
	}
	return err
}

// Reconcile compares the replicas of the stream behind an asset with want.
// A stream made with another setting (before a change of
// CHORUS_LOG_REPLICAS, or by another tool) is updated where NATS allows it:
// a cluster moves a stream between R1 and R3 online. Where it does not (no
// permission to update streams, too few servers), Reconcile logs what to
// run and leaves the stream as it is: the worker still works, with the
// durability of the stream's own setting.
func Reconcile(ctx context.Context, js jetstream.JetStream, stream string, want int, log *slog.Logger) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		log.Warn("cannot read the replicas of a JetStream asset", "stream", stream, "err", err)
		return
	}
	cfg := st.CachedInfo().Config
	if cfg.Replicas == want || (cfg.Replicas == 0 && want == 1) {
		return
	}
	have := max(cfg.Replicas, 1)
	cfg.Replicas = want
	// A request without permission gets no answer, only a timeout: keep the
	// wait short, the worker starts either way.
	uctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := js.UpdateStream(uctx, cfg); err != nil {
		log.Warn("JetStream asset has another number of replicas than CHORUS_LOG_REPLICAS; it keeps its own until changed",
			"stream", stream, "replicas", have, "configured", want, "err", err,
			"fix", fmt.Sprintf("grant the worker $JS.API.STREAM.UPDATE.%s (deploy/nats-roles.conf does), or as a NATS admin: nats stream edit %s --replicas %d (or set CHORUS_LOG_REPLICAS=%d)", stream, stream, want, have))
		return
	}
	log.Info("JetStream asset moved to the configured replicas", "stream", stream, "from", have, "to", want)
}
