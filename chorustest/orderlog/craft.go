package orderlog

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// appendWindow is how many crafted ORDERs are in flight at once: enough to
// keep JetStream busy (one by one, 50,000 fsynced appends take minutes),
// few enough that a refused one is noticed soon.
const appendWindow = 1000

// Crafted is what Append put in the log.
type Crafted struct {
	First, Last uint64 // log positions of the first and the last ORDER appended
	Writes      int    // writes in those ORDERs
}

// Append appends n write ORDERs to the log exactly as a leader writes
// them: each with the expected last sequence of the one before it (so
// Seq is its log position), in the epoch and under the leader of the log's
// last entry, with write timestamps increasing past the last one. It
// builds a long history in seconds where the real write path would take
// many minutes. stmts(i) gives the statements of the i-th ORDER, called
// for i = 0..n-1 in that order (so the caller can record what the log
// holds); several statements make a group-committed ORDER. Stop every
// worker first: a leader appending too would make the condition fail.
func (l *Log) Append(ctx context.Context, n int, stmts func(i int) []string) (Crafted, error) {
	tail, err := l.Tail(ctx)
	if err != nil {
		return Crafted{}, fmt.Errorf("crafting ORDERs: nothing to continue: %w", err)
	}
	c := Crafted{First: tail.Seq + 1, Last: tail.Seq}
	ts := max(time.Now().UnixMicro(), tail.LastTimestamp()+1)
	for i := 0; i < n; {
		type inFlight struct {
			seq uint64
			fut jetstream.PubAckFuture
		}
		var futs []inFlight
		for ; i < n && len(futs) < appendWindow; i++ {
			seq := c.Last + 1
			o := messages.Order{Epoch: tail.Epoch, Seq: seq, Kind: messages.OrderWrite, Timestamp: ts, Leader: tail.Leader}
			for k, stmt := range stmts(i) {
				o.Writes = append(o.Writes, messages.Write{RequestID: fmt.Sprintf("crafted-%d-%d", seq, k), Stmt: stmt, Origin: tail.Leader})
			}
			if len(o.Writes) == 0 {
				return c, fmt.Errorf("crafting ORDER %d: no statements", i)
			}
			ts += int64(len(o.Writes)) // Writes[k] is applied at Timestamp+k
			msg := nats.NewMsg(l.subjects.Order())
			msg.Data = messages.MustEncode(&o)
			fut, err := l.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequence(seq-1), jetstream.WithExpectStream(l.subjects.StreamName()))
			if err != nil {
				return c, fmt.Errorf("appending crafted ORDER at seq %d: %w", seq, err)
			}
			futs = append(futs, inFlight{seq, fut})
			c.Last = seq
			c.Writes += len(o.Writes)
		}
		for _, f := range futs {
			select {
			case <-f.fut.Ok():
			case err := <-f.fut.Err():
				return c, fmt.Errorf("appending crafted ORDER at seq %d (is a leader appending too?): %w", f.seq, err)
			case <-ctx.Done():
				return c, fmt.Errorf("appending crafted ORDERs: %w", ctx.Err())
			}
		}
	}
	return c, nil
}
