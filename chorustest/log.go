package chorustest

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest/orderlog"
	"github.com/chorusdb/chorus/messages"
)

func jetstreamNew(nc *nats.Conn) (jetstream.JetStream, error) { return jetstream.New(nc) }

// readAll returns the ORDER log's entries in order; an entry that is not a
// valid ORDER comes back with Seq set and Kind 255. The leader may trim
// the log while it is read (after a snapshot): what was trimmed meanwhile
// is skipped, any other missing entry is an error.
func readAll(ctx context.Context, js jetstream.JetStream, stream string) ([]messages.Order, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []messages.Order
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			now, ierr := st.Info(ctx)
			if ierr != nil {
				return nil, ierr
			}
			if seq < now.State.FirstSeq {
				out = nil // the entries read so far are before the new start too
				seq = now.State.FirstSeq - 1
				continue
			}
			return nil, fmt.Errorf("ORDER log entry %d is missing, inside the log (seq %d to %d): %w", seq, now.State.FirstSeq, now.State.LastSeq, err)
		}
		if err != nil {
			return nil, err
		}
		var o messages.Order
		if messages.Decode(raw.Data, &o) != nil || o.Seq != seq {
			o = messages.Order{Seq: seq, Kind: 255}
		}
		out = append(out, o)
	}
	return out, nil
}

// OrderLog reads a cluster's ORDER log directly in JetStream, as a test
// that checks or builds its history needs (see package orderlog).
type OrderLog = orderlog.Log

// Crafted is what OrderLog.Append put in the log.
type Crafted = orderlog.Crafted

// NewOrderLog is the ORDER log of the cluster with subject prefix prefix,
// reached through nc.
func NewOrderLog(nc *nats.Conn, prefix string) (*OrderLog, error) { return orderlog.New(nc, prefix) }
