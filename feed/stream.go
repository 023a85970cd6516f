package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/jsassets"
	"github.com/chorusdb/chorus/messages"
)

// DefaultMaxBytes bounds the changes stream when nothing else is set
// (CHORUS_FEED_MAX_BYTES): 1 GiB, some millions of small changes.
const DefaultMaxBytes = 1 << 30

// dupWindow is the changes stream's Nats-Msg-Id window: a publish retried
// within it is stored once.
const dupWindow = 2 * time.Minute

// StreamConfig is the changes stream of a cluster: on <prefix>.changelog.>,
// republished on <prefix>.changes.> once stored, bounded by maxBytes
// (oldest dropped first), with replicas copies.
func StreamConfig(s messages.Subjects, replicas int, maxBytes int64) jetstream.StreamConfig {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	cfg := jetstream.StreamConfig{
		Name:        s.ChangesStream(),
		Description: "Chorus change feed: every committed write, in global order (see the README's Change feed)",
		Subjects:    []string{s.ChangeLogAll()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    maxBytes,
		Replicas:    max(replicas, 1),
		Duplicates:  dupWindow,
		AllowDirect: true,
		RePublish:   &jetstream.RePublish{Source: s.ChangeLogAll(), Destination: s.ChangesAll()},
	}
	if cfg.Replicas == 1 {
		// Not fsynced per message (the ORDER log is): the feed is derived
		// from the log, one message per write rather than per ORDER, and
		// an fsync each halved the cluster's write throughput (README).
		// What a power loss takes from the tail, the next leader
		// publishes again from the log, under the same keys. (Replicated
		// streams sync through their Raft log instead, and NATS refuses
		// this mode for them.)
		cfg.PersistMode = jetstream.AsyncPersistMode
	}
	return cfg
}

// OpenStream creates the changes stream if it is missing, or opens it as
// it is but for its replicas, moved to replicas like the cluster's other
// assets (changing its limits later is an admin's `nats stream edit`).
func OpenStream(ctx context.Context, js jetstream.JetStream, s messages.Subjects, replicas int, maxBytes int64, log *slog.Logger) (jetstream.Stream, error) {
	st, err := js.CreateStream(ctx, StreamConfig(s, replicas, maxBytes))
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		jsassets.Reconcile(ctx, js, s.ChangesStream(), max(replicas, 1), log)
		st, err = js.Stream(ctx, s.ChangesStream())
	}
	if err != nil {
		err = jsassets.Explain(err, "changes stream "+s.ChangesStream(), replicas)
		return nil, fmt.Errorf("opening the changes stream %s: %w", s.ChangesStream(), err)
	}
	return st, nil
}
