package feed

import (
	"fmt"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// Outcomes finds how a write ended on the leader's own replica: its
// exactly-once record (request id, at the write's seq and index ->
// outcome), kept for the dedup window. false: no record; an error: the
// record could not be read now (the feed tries again, never guesses).
type Outcomes func(requestID string, seq uint64, idx uint32) (messages.Outcome, bool, error)

// Item is one message to publish: a change, and the token of its subject.
type Item struct {
	Token  string
	Change messages.Change
}

// Cursor is where the feed stands in the log: everything up to Last is
// published, and Epoch is the highest epoch of the entries read so far
// (an entry of a lower one is a deposed leader's, skipped by every
// replica). It is the pure part of the publisher.
type Cursor struct {
	Last  messages.ChangeKey
	Epoch uint64
	// Started: Last names a published change (not only a starting point).
	Started bool
}

// Select returns what to publish for the log entry o, read after every
// entry before it, and moves the cursor past it. A write is published
// only when the replica's record says that this very write (same seq and
// index) succeeded: a failed write never appears, nor one of a deposed
// leader's entries (never applied, so never recorded at its seq). A write
// whose record is gone (past the dedup window) is published as UNKNOWN
// on the gap subject, so a subscriber learns of the hole instead of
// missing it silently.
func (c *Cursor) Select(o messages.Order, outcome Outcomes) ([]Item, error) {
	if o.Epoch < c.Epoch {
		return nil, nil // a deposed leader's entry
	}
	if o.Kind != messages.OrderWrite {
		c.Epoch = o.Epoch
		return nil, nil
	}
	// Outcomes first, so that a failed read leaves the cursor as it was.
	// A record that is not there is left zero: no write has seq 0.
	recs := make([]messages.Outcome, len(o.Writes))
	for i, w := range o.Writes {
		k := messages.ChangeKey{Seq: o.Seq, Index: uint32(i)}
		if c.Started && !c.Last.Less(k) {
			continue
		}
		rec, ok, err := outcome(w.RequestID, o.Seq, uint32(i))
		if err != nil {
			return nil, fmt.Errorf("the outcome of seq %d write %d: %w", o.Seq, i, err)
		}
		if ok {
			recs[i] = rec
		}
	}
	c.Epoch = o.Epoch
	out := make([]Item, 0, len(o.Writes))
	for i := range o.Writes {
		k := messages.ChangeKey{Seq: o.Seq, Index: uint32(i)}
		if c.Started && !c.Last.Less(k) {
			continue // published before
		}
		ch := change(o, i)
		rec := &recs[i]
		switch {
		case rec.Seq != o.Seq || rec.Index != uint32(i):
			ch.Outcome = messages.ChangeUnknown
			ch.Error = fmt.Sprintf("the outcome of seq %d write %d is no longer known to the leader (its request record expired, CHORUS_DEDUP_WINDOW/CHORUS_DEDUP_MAX): check the table", o.Seq, i)
			out = append(out, Item{Token: messages.GapToken, Change: ch})
		case rec.Code != messages.CodeOK:
			// Failed on every replica alike: not a change.
		default:
			ch.Outcome = messages.ChangeSuccess
			out = append(out, Item{Token: token(ch), Change: ch})
		}
		c.Last, c.Started = k, true
	}
	return out, nil
}

// change describes write i of o; the statement is classified again only
// to name its table and kind (the leader checked it before ordering it).
func change(o messages.Order, i int) messages.Change {
	w := o.Writes[i]
	ch := messages.Change{Seq: o.Seq, Index: uint32(i), Stmt: w.Stmt, Timestamp: o.WriteTimestamp(i),
		RequestID: w.RequestID, Origin: w.Origin, Epoch: o.Epoch}
	if st, err := cql.Classify(w.Stmt, "chorus_feed"); err == nil {
		ch.Kind = st.Kind.String()
		names := dedup(st.Names)
		if len(names) > 0 {
			ch.Table = names[0]
		}
		if len(names) > 1 {
			ch.Tables = names
		}
	}
	return ch
}

// token is the subject token of a successful change.
func token(ch messages.Change) string {
	if k := ch.Kind; k == cql.KindTruncate.String() || isSchemaKind(k) {
		return messages.SchemaToken
	}
	return messages.FeedToken(ch.Table)
}

func isSchemaKind(k string) bool {
	for kind := cql.KindTruncate; kind <= cql.KindDropIndex; kind++ {
		if kind.IsSchema() && kind.String() == k {
			return true
		}
	}
	return false
}

func dedup(names []string) []string {
	if len(names) <= 1 { // one table: most writes
		return names
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
