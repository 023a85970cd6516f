package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// SnapshotDump decodes a snapshot stream for tests: its header, one line
// per record after it (the trailer's elapsed time and every cell's expiry
// left out of the lines) and every expiry in stream order, so two streams
// of equal data compare equal line by line, and their expiries within a
// tolerance.
func SnapshotDump(b []byte) (map[string]any, []string, []int64, error) {
	fr, err := newFrameReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, nil, err
	}
	var header map[string]any
	var lines []string
	var exps []int64
	for {
		kind, body, err := fr.next()
		if err == io.EOF {
			return header, lines, exps, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		switch kind {
		case recHeader:
			header = map[string]any{}
			err = decodeRecord(kind, body, &header)
		case recSchema:
			var s snapSchema
			err = decodeRecord(kind, body, &s)
			lines = append(lines, fmt.Sprintf("S %+v", s))
		case recTable:
			var t snapTable
			err = decodeRecord(kind, body, &t)
			lines = append(lines, fmt.Sprintf("T %+v", t))
		case recRow:
			var r snapRow
			err = decodeRecord(kind, body, &r)
			for i := range r.Cells {
				exps = append(exps, r.Cells[i].Expires)
				r.Cells[i].Expires = min(r.Cells[i].Expires, 1)
			}
			lines = append(lines, fmt.Sprintf("R %x %+v %d", r.Key, r.Cells, r.Marker))
		case recRequest:
			var q snapRequest
			err = decodeRecord(kind, body, &q)
			exps = append(exps, q.Expires)
			q.Expires = min(q.Expires, 1)
			lines = append(lines, fmt.Sprintf("Q %+v", q))
		case recEnd:
			var e snapTrailer
			err = decodeRecord(kind, body, &e)
			e.Elapsed = 0
			lines = append(lines, fmt.Sprintf("E %+v", e))
		default:
			lines = append(lines, fmt.Sprintf("%c %x", kind, body))
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
}

// BatchlogNode is what LookAtBatchlogs found on one node.
type BatchlogNode struct {
	Addr      string
	Reachable bool
	Oldest    time.Time
}

// LookAtBatchlogs asks every node of the ring that seeds lead to for its
// oldest pending batch, as a store does after a write failed unanswered.
func LookAtBatchlogs(ctx context.Context, seeds []string) []BatchlogNode {
	w := NewBatchlogWatch(seeds)
	defer w.Close()
	return w.Look(ctx)
}

// BatchlogWatch keeps its connections to the nodes from one look to the
// next, as a store waiting on a write's fate does.
type BatchlogWatch struct{ b *batchlogs }

func NewBatchlogWatch(seeds []string) *BatchlogWatch {
	cc := gocql.NewCluster(seeds...)
	cc.Timeout, cc.ConnectTimeout = 5*time.Second, 5*time.Second
	return &BatchlogWatch{newBatchlogs(cc, seeds)}
}

func (w *BatchlogWatch) Look(ctx context.Context) []BatchlogNode {
	var out []BatchlogNode
	for _, n := range w.b.look(ctx, nil) {
		out = append(out, BatchlogNode{Addr: n.addr, Reachable: n.reachable, Oldest: n.oldest})
	}
	return out
}

func (w *BatchlogWatch) Close() { w.b.close() }

// RunUnrecorded runs write k of o as Apply does, intent included, but
// stops before recording it: a worker that died right after the statement.
func (c *Cassandra) RunUnrecorded(ctx context.Context, o *messages.Order, k int) error {
	st, err := cql.Parse(o.Writes[k].Stmt, c.keyspace)
	if err != nil {
		return err
	}
	if schemaChange(st) {
		if _, err := c.ranBefore(ctx, o, k); err != nil {
			return err
		}
	}
	return c.session.Query(st.Text).WithContext(ctx).Exec()
}

// LanedChunks counts the chunks c applied in lanes.
func (c *Cassandra) LanedChunks() int { return c.laned }
