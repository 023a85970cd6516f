package messages

import (
	"fmt"
	"strconv"
	"strings"
)

// Change is one committed write as the change feed publishes it, JSON on
// <prefix>.changes.<table> (schema changes and TRUNCATE on
// <prefix>.changes._schema). Seq and Index name the write in the global
// order: together, the Key, they are the feed's dedup key.
type Change struct {
	Seq   uint64 `json:"seq"`   // the ORDER holding the write
	Index uint32 `json:"index"` // the write's position in that ORDER
	// Table is the table the statement writes (the first one, for a BATCH
	// over several: Tables lists them all); unquoted names in lower case.
	Table  string   `json:"table"`
	Tables []string `json:"tables,omitempty"`
	Kind   string   `json:"kind"` // INSERT, UPDATE, DELETE, BATCH, TRUNCATE, CREATE TABLE, ...
	// Stmt is the statement as every replica applied it: the leader's
	// rewrite (now(), uuid() and kin turned into literals), applied with
	// write timestamp Timestamp (µs since the Unix epoch).
	Stmt      string `json:"stmt"`
	Timestamp int64  `json:"timestamp"`
	RequestID string `json:"request_id"`
	Origin    string `json:"origin"` // the worker that received the write
	Epoch     uint64 `json:"epoch"`  // the leader's epoch that ordered it
	// Outcome is SUCCESS for every change on a table or schema subject
	// (a write that failed is never published); UNKNOWN on the gap subject.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"` // why the outcome is UNKNOWN
}

// Outcomes of a published Change.
const (
	ChangeSuccess = "SUCCESS"
	ChangeUnknown = "UNKNOWN"
)

// Feed subject tokens that are not tables.
const (
	// SchemaToken: CREATE/ALTER/DROP of tables, types, indexes and TRUNCATE.
	SchemaToken = "_schema"
	// GapToken: a committed write whose outcome the leader no longer knows
	// (see the README's "Change feed"); never a table's subject.
	GapToken = "_gap"
)

// Headers of a change message (besides Nats-Msg-Id, which is the Key).
const (
	HeaderChangeSeq   = "Chorus-Seq"
	HeaderChangeIndex = "Chorus-Index"
)

// ChangeKey is the position of one write in the global order, the feed's
// dedup key "<seq>.<index>".
type ChangeKey struct {
	Seq   uint64
	Index uint32
}

// Key is c's position.
func (c *Change) Key() ChangeKey { return ChangeKey{c.Seq, c.Index} }

func (k ChangeKey) String() string {
	return strconv.FormatUint(k.Seq, 10) + "." + strconv.FormatUint(uint64(k.Index), 10)
}

// Less orders keys as the feed publishes them.
func (k ChangeKey) Less(o ChangeKey) bool {
	return k.Seq < o.Seq || k.Seq == o.Seq && k.Index < o.Index
}

// ParseChangeKey reads "<seq>.<index>".
func ParseChangeKey(s string) (ChangeKey, error) {
	a, b, ok := strings.Cut(s, ".")
	seq, err1 := strconv.ParseUint(a, 10, 64)
	idx, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return ChangeKey{}, fmt.Errorf("messages: %q is not a change key <seq>.<index>", s)
	}
	return ChangeKey{seq, uint32(idx)}, nil
}

// FeedToken turns a table name into one subject token: a quoted name with
// characters a token cannot hold has them replaced by '_' (the Change
// carries the exact name).
func FeedToken(table string) string {
	if table == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return '_'
		}
		return r
	}, table)
}
