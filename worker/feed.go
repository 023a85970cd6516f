package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
)

// openFeed prepares the change feed's publisher (nil when CHORUS_FEED is
// off) and hooks it to the leader: it hears how far the log is committed,
// and the log is kept from the first entry it has not published.
func (w *Worker) openFeed(ctx context.Context, lc *leader.Config, log *slog.Logger) error {
	if !w.cfg.Feed {
		return nil
	}
	st, err := feed.OpenStream(ctx, w.js, w.subjects, w.cfg.LogReplicas, w.cfg.FeedMaxBytes, log)
	if err != nil {
		return fmt.Errorf("%w (the worker role needs the changes stream's API, see deploy/nats-roles.conf; or turn the feed off with CHORUS_FEED=false)", err)
	}
	w.feed = feed.New(w.js, st, feed.Config{Subjects: w.subjects, Outcome: w.outcome, Log: log.With("role", "feed")})
	lc.OnCommit = w.feed.Committed
	lc.Policy.FeedNeeds = w.feed.Needs
	return nil
}

// runFeed publishes while this worker leads, until ctx ends (a return
// ends the worker, so without a feed it waits too).
func (w *Worker) runFeed(ctx context.Context) error {
	if w.feed == nil {
		<-ctx.Done()
		return nil
	}
	return w.feed.Run(ctx)
}

// outcome is how write id, write idx of ORDER seq, ended on this replica:
// from the in-memory window, else from the keyspace's record (kept for the
// whole dedup window even when CHORUS_DEDUP_MAX ids have pushed it out of
// memory).
func (w *Worker) outcome(id string, seq uint64, idx uint32) (messages.Outcome, bool, error) {
	if o, ok := w.recent.Lookup(id); ok {
		return o, true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.CassandraTimeout)
	defer cancel()
	return w.store.Outcome(ctx, id, seq, idx)
}
