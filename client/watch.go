package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/messages"
)

// Change is one committed write of the change feed.
type Change = messages.Change

// ErrTrimmed is returned by Watch when changes from the asked seq may
// have been dropped by the changes stream's retention.
var ErrTrimmed = feed.ErrTrimmed

// Watch calls fn with every committed write to table, in the global
// order, each once: "" watches every table, the schema changes and the
// gap subject; "_schema" only CREATE/ALTER/DROP and TRUNCATE. fromSeq 0
// starts with the changes from now on; otherwise with the first change of
// seq fromSeq or later (to resume, pass the seq of the last change seen:
// changes up to it are dropped only within this call, so also skip keys
// you have seen). Watch returns nil when ctx ends, fn's error if fn fails,
// or why the feed cannot be read. It needs the feed role on a broker with
// roles (SECURITY.md).
func (c *Client) Watch(ctx context.Context, table string, fromSeq uint64, fn func(Change) error, opts ...Option) error {
	o := c.opts.with(opts)
	subj := messages.NewSubjects(o.prefix)
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	// Finding the start is bounded by the call's timeout: a refused
	// request (no feed role) shows as none answering.
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	st, err := js.Stream(sctx, subj.ChangesStream())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("client: cannot read the change feed %s (is the cluster's prefix %q, and are these the feed role's credentials? see SECURITY.md): %w", subj.ChangesStream(), o.prefix, err)
	}
	cfg, err := feed.Start(sctx, st, fromSeq)
	if err != nil {
		return err
	}
	if table != "" {
		cfg.FilterSubjects = []string{subj.ChangeLog(messages.FeedToken(table))}
	}
	cons, err := js.OrderedConsumer(sctx, subj.ChangesStream(), cfg)
	if err != nil {
		return fmt.Errorf("client: watching the change feed: %w", err)
	}
	cancel()
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("client: watching the change feed: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	var seen feed.Dedup
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("client: watching the change feed: %w", err)
		}
		var ch Change
		if err := json.Unmarshal(m.Data(), &ch); err != nil {
			return fmt.Errorf("client: a change that is not JSON on %s: %w", m.Subject(), err)
		}
		if ch.Seq < fromSeq || !seen.Fresh(ch.Key()) {
			continue
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
}
