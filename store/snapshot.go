package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/vmihailenco/msgpack/v5"
)

// A snapshot stream is a replica's keyspace at one applied sequence, as
// written by Export and read by Import (Cassandra and Memory alike).
//
// Layout: the magic bytes snapshotMagic, then records, each
//
//	kind (1 byte) | length (uint32, big endian) | body (msgpack) | CRC-32C of the three before
//
// in this fixed order, so that Import can stream it without holding it:
//
//	'H' header      snapHeader: format, store kind, source keyspace, State, taken at
//	'S' schema      snapSchema, one per type, table and index, types first
//	'T' table       snapTable: a table's columns, followed by its rows:
//	'R'   row       snapRow: primary key, cells with timestamps and expiry
//	'W' write       snapWrite: Memory only, one applied write of its history
//	'Q' request     snapRequest: an exactly-once request record with its expiry
//	'M' member      snapMember: a member as the replica applied it (chorus_members)
//	'E' end         snapTrailer: the counts of everything before it
//
// A stream without its trailer, or whose trailer's counts differ from what
// came before it, is truncated and never taken as a snapshot.

// SnapshotFormat is the version of the stream.
const SnapshotFormat = 1

// snapshotMagic opens every stream.
const snapshotMagic = "CHORUS-SNAPSHOT\n"

// maxRecord bounds one record, so a corrupt length is an error and not an
// allocation of gigabytes. Cassandra refuses mutations over half a
// commitlog segment (16 MiB by default) anyway.
const maxRecord = 256 << 20

// Errors of snapshots.
var (
	// ErrSnapshotTruncated is returned by Import for a stream that ends
	// before its trailer, or whose trailer does not match what came before:
	// it is not a whole snapshot, and the keyspace holds no progress record.
	ErrSnapshotTruncated = errors.New("store: snapshot truncated")
	// ErrSnapshotCorrupt is returned by Import for a stream that is not a
	// snapshot, fails its checksums, is of an unknown format, or was taken
	// from another kind of store.
	ErrSnapshotCorrupt = errors.New("store: snapshot invalid")
	// ErrSnapshotPartial is returned by Export when the keyspace is in the
	// middle of an ORDER (State.Partial > 0): a snapshot is taken between
	// ORDERs only.
	ErrSnapshotPartial = errors.New("store: snapshot refused in the middle of an ORDER")
	// ErrNotEmpty is returned by Import into a keyspace that already holds
	// user tables or types, a progress record or request records.
	ErrNotEmpty = errors.New("store: keyspace not empty")
)

// SnapshotStats counts what Export wrote.
type SnapshotStats struct {
	Tables   int64 // user tables
	Rows     int64 // row records (a partition's static cells alone count as one; Memory: its history writes)
	Cells    int64 // cells, one per collection element, UDT field and counter
	Requests int64 // exactly-once request records
	Members  int64 // member records
	Bytes    int64 // length of the stream
}

// RestoreProgress is what Import has loaded so far. It is reported about
// every 1000 rows and once at the end.
type RestoreProgress struct {
	Bytes int64 // read from the stream
	Rows  int64 // rows written
}

// Record kinds.
const (
	recHeader  = 'H'
	recSchema  = 'S'
	recTable   = 'T'
	recRow     = 'R'
	recWrite   = 'W'
	recRequest = 'Q'
	recMember  = 'M'
	recEnd     = 'E'
)

// Store kinds in the header: a snapshot is imported into the kind of store
// that took it.
const (
	storeCassandra = "cassandra"
	storeMemory    = "memory"
)

// snapHeader opens the stream.
type snapHeader struct {
	Format   int       `msgpack:"format"`
	Store    string    `msgpack:"store"`
	Keyspace string    `msgpack:"keyspace"` // the source's, for information
	Applied  uint64    `msgpack:"applied"`
	Epoch    uint64    `msgpack:"epoch"`
	Partial  uint32    `msgpack:"partial"` // always 0
	Taken    time.Time `msgpack:"taken"`   // when Export started
	// StateTimestamp is the write timestamp of the source's progress
	// record (that of the last write applied); Import writes its progress
	// record with it, so the next ORDER's record supersedes it.
	StateTimestamp int64 `msgpack:"state_ts"`
}

// snapSchema is one type, table or index: its CREATE statements (as
// Cassandra's DESCRIBE gives them, naming no keyspace), run in the target
// keyspace.
type snapSchema struct {
	Kind  string   `msgpack:"kind"` // type, table, index
	Name  string   `msgpack:"name"`
	Stmts []string `msgpack:"stmts"`
}

// Column shapes: how a column's cells are read and written.
const (
	shapeScalar  = iota // one cell: native types, frozen collections, UDTs and tuples
	shapeList           // non-frozen list: one cell per element, in order
	shapeSet            // non-frozen set: one cell per element
	shapeMap            // non-frozen map: one cell per entry
	shapeUDT            // non-frozen UDT: one cell per field
	shapeCounter        // counter: a value only
)

// snapColumn describes a column of a table.
type snapColumn struct {
	Name   string   `msgpack:"name"`
	Kind   string   `msgpack:"kind"` // partition_key, clustering, static, regular
	Type   string   `msgpack:"type"` // as in system_schema.columns
	Shape  int      `msgpack:"shape"`
	Fields []string `msgpack:"fields,omitempty"` // shapeUDT: field names
	// Bind is how a value is bound in a statement: "" for a plain bind
	// marker, the tuple's shape for a tuple ("(?, (?, ?))"), since the
	// driver binds a tuple element by element; FieldBinds the same for
	// each field of a UDT.
	Bind       string   `msgpack:"bind,omitempty"`
	FieldBinds []string `msgpack:"field_binds,omitempty"`
}

// snapTable starts a table's rows.
type snapTable struct {
	Name    string       `msgpack:"name"`
	Key     []snapColumn `msgpack:"key"`     // partition key then clustering columns, in order
	Columns []snapColumn `msgpack:"columns"` // static and regular columns
}

// snapRow is a row (or a partition's static cells alone).
type snapRow struct {
	_msgpack struct{} `msgpack:",as_array"`
	// Key holds the values of the table's key columns, encoded. The
	// clustering values are nil for a partition's static cells alone.
	Key   [][]byte
	Cells []snapCell
	// Marker > 0: the row exists without any regular cell; Import writes
	// its primary key alone with this timestamp.
	Marker int64
}

// snapCell is one cell: a value, a list element, a set element, a map
// entry, a UDT field or a counter.
type snapCell struct {
	_msgpack struct{} `msgpack:",as_array"`
	Col      int      // index in snapTable.Columns
	Path     []byte   // set element, map key, UDT field name; nil otherwise
	Value    []byte   // value, list element, map value, field value; nil for a set element
	TS       int64    // write timestamp (0 for counters)
	Expires  int64    // unix seconds when the cell expires; 0: no TTL
}

// snapRequest is a record of chorus_requests.
type snapRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       string
	Seq      uint64
	Idx      uint32
	Code     int
	Error    string
	TS       int64
	Expires  int64 // unix seconds; 0: no TTL
}

// snapMember is a record of chorus_members.
type snapMember struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       string
	Gen      string
	Removed  bool
	Seq      uint64
	TS       int64
}

// snapWrite is one write of a Memory's history.
type snapWrite struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Seq       uint64
	Index     uint32
	RequestID string
	Stmt      string
	Timestamp int64
}

// snapTrailer closes the stream with the counts of what came before.
type snapTrailer struct {
	Schema   int64         `msgpack:"schema"`
	Tables   int64         `msgpack:"tables"`
	Rows     int64         `msgpack:"rows"`
	Cells    int64         `msgpack:"cells"`
	Writes   int64         `msgpack:"writes"`
	Requests int64         `msgpack:"requests"`
	Members  int64         `msgpack:"members"`
	Elapsed  time.Duration `msgpack:"elapsed"` // how long Export took
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameWriter writes records.
type frameWriter struct {
	w   *bufio.Writer
	n   int64
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newFrameWriter(w io.Writer) (*frameWriter, error) {
	f := &frameWriter{w: bufio.NewWriterSize(w, 64<<10)}
	f.enc = msgpack.NewEncoder(&f.buf)
	n, err := f.w.WriteString(snapshotMagic)
	f.n += int64(n)
	return f, err
}

// write appends one record of kind with body v.
func (f *frameWriter) write(kind byte, v any) error {
	f.buf.Reset()
	f.buf.Write([]byte{kind, 0, 0, 0, 0})
	if err := f.enc.Encode(v); err != nil {
		return fmt.Errorf("store: snapshot: encoding a %q record: %w", kind, err)
	}
	b := f.buf.Bytes()
	if len(b)-5 > maxRecord {
		return fmt.Errorf("store: snapshot: a %q record of %d bytes is over the limit of %d", kind, len(b)-5, maxRecord)
	}
	binary.BigEndian.PutUint32(b[1:5], uint32(len(b)-5))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	n, err := f.w.Write(b)
	f.n += int64(n)
	return err
}

func (f *frameWriter) flush() error { return f.w.Flush() }

// frameReader reads records.
type frameReader struct {
	r   *bufio.Reader
	n   int64 // bytes read
	buf []byte
}

// newFrameReader checks the magic bytes.
func newFrameReader(r io.Reader) (*frameReader, error) {
	f := &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(snapshotMagic))
	n, err := io.ReadFull(f.r, magic)
	f.n += int64(n)
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the stream is empty", ErrSnapshotTruncated)
	case err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%w: the stream ends after %d bytes", ErrSnapshotTruncated, n)
	case err != nil:
		return nil, fmt.Errorf("store: reading the snapshot: %w", err)
	case string(magic) != snapshotMagic:
		return nil, fmt.Errorf("%w: not a Chorus snapshot (it starts with %q)", ErrSnapshotCorrupt, magic)
	}
	return f, nil
}

// next reads the next record: its kind and body (valid until the next
// call). It returns io.EOF at the end of the stream between records.
func (f *frameReader) next() (byte, []byte, error) {
	var head [5]byte
	n, err := io.ReadFull(f.r, head[:])
	f.n += int64(n)
	switch {
	case err == io.EOF:
		return 0, nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return 0, nil, fmt.Errorf("%w: the stream ends inside a record header at byte %d", ErrSnapshotTruncated, f.n)
	case err != nil:
		return 0, nil, fmt.Errorf("store: reading the snapshot: %w", err)
	}
	size := binary.BigEndian.Uint32(head[1:])
	if size > maxRecord {
		return 0, nil, fmt.Errorf("%w: a record of %d bytes at byte %d (the limit is %d)", ErrSnapshotCorrupt, size, f.n-5, maxRecord)
	}
	if cap(f.buf) < int(size)+4 {
		f.buf = make([]byte, int(size)+4)
	}
	b := f.buf[:size+4]
	n, err = io.ReadFull(f.r, b)
	f.n += int64(n)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return 0, nil, fmt.Errorf("%w: the stream ends inside a %q record at byte %d", ErrSnapshotTruncated, head[0], f.n)
	case err != nil:
		return 0, nil, fmt.Errorf("store: reading the snapshot: %w", err)
	}
	sum := crc32.Update(crc32.Checksum(head[:], castagnoli), castagnoli, b[:size])
	if sum != binary.BigEndian.Uint32(b[size:]) {
		return 0, nil, fmt.Errorf("%w: checksum mismatch in the %q record ending at byte %d", ErrSnapshotCorrupt, head[0], f.n)
	}
	return head[0], b[:size], nil
}

// decode unmarshals a record's body.
func decodeRecord(kind byte, body []byte, v any) error {
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decoding a %q record: %v", ErrSnapshotCorrupt, kind, err)
	}
	return nil
}

// checkHeader accepts a header of this format and store kind.
func checkHeader(h snapHeader, store string) error {
	switch {
	case h.Format != SnapshotFormat:
		return fmt.Errorf("%w: format %d; this version reads format %d", ErrSnapshotCorrupt, h.Format, SnapshotFormat)
	case h.Store != store:
		return fmt.Errorf("%w: a snapshot of a %s store cannot be imported into a %s store", ErrSnapshotCorrupt, h.Store, store)
	case h.Partial != 0:
		return fmt.Errorf("%w: taken in the middle of seq %d", ErrSnapshotCorrupt, h.Applied+1)
	}
	return nil
}

// recordFollows reports whether a record of kind may follow one of prev.
func recordFollows(prev, kind byte) bool {
	order := map[byte][]byte{
		recHeader:  {recSchema, recTable, recWrite, recRequest, recMember, recEnd},
		recSchema:  {recSchema, recTable, recRequest, recMember, recEnd},
		recTable:   {recRow, recTable, recRequest, recMember, recEnd},
		recRow:     {recRow, recTable, recRequest, recMember, recEnd},
		recWrite:   {recWrite, recRequest, recMember, recEnd},
		recRequest: {recRequest, recMember, recEnd},
		recMember:  {recMember, recEnd},
	}
	return slices.Contains(order[prev], kind)
}

// checkTrailer compares what was read with the trailer's counts.
func checkTrailer(got, want snapTrailer) error {
	got.Elapsed = want.Elapsed
	if got != want {
		return fmt.Errorf("%w: read %d schema, %d tables, %d rows, %d cells, %d writes, %d requests, %d members; the trailer says %d, %d, %d, %d, %d, %d, %d",
			ErrSnapshotTruncated, got.Schema, got.Tables, got.Rows, got.Cells, got.Writes, got.Requests, got.Members,
			want.Schema, want.Tables, want.Rows, want.Cells, want.Writes, want.Requests, want.Members)
	}
	return nil
}

// rawValue is a CQL value kept in its encoding, so that every type
// round-trips without being rendered: nil is null, empty is the empty
// value (which Cassandra distinguishes from null).
type rawValue []byte

// UnmarshalCQL keeps a copy of data (gocql reuses its buffers).
func (r *rawValue) UnmarshalCQL(_ gocql.TypeInfo, data []byte) error {
	if data == nil {
		*r = nil
		return nil
	}
	*r = append(make([]byte, 0, len(data)), data...)
	return nil
}

// MarshalCQL returns the bytes as they are.
func (r rawValue) MarshalCQL(gocql.TypeInfo) ([]byte, error) { return r, nil }

// splitCollection splits a non-frozen collection in the native protocol's
// encoding (v3 and later: an int32 count, then each element as an int32
// length and its bytes, length -1 for null) into its elements; a map's
// come as key, value, key, value.
func splitCollection(b []byte, pairs bool) ([][]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("store: a collection of %d bytes has no element count", len(b))
	}
	n := int(int32(binary.BigEndian.Uint32(b)))
	b = b[4:]
	if pairs {
		n *= 2
	}
	if n < 0 || n > len(b)/4 {
		return nil, fmt.Errorf("store: a collection of %d bytes claims %d elements", len(b)+4, n)
	}
	out := make([][]byte, n)
	for i := range out {
		if len(b) < 4 {
			return nil, fmt.Errorf("store: collection element %d of %d is missing", i, n)
		}
		size := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if size < 0 {
			continue // null
		}
		if size > len(b) {
			return nil, fmt.Errorf("store: collection element %d claims %d bytes; %d remain", i, size, len(b))
		}
		out[i] = b[:size:size]
		b = b[size:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("store: %d bytes after the last of %d collection elements", len(b), n)
	}
	return out, nil
}

// joinCollection encodes count elements (for a map: count entries, elems
// being key, value, ...) as splitCollection reads them.
func joinCollection(count int, elems [][]byte) []byte {
	size := 4
	for _, e := range elems {
		size += 4 + len(e)
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, uint32(count))
	return appendElems(out, elems)
}

// joinTuple encodes a tuple (or UDT) value from its elements: each one as
// an int32 length and its bytes, -1 for null, with no count.
func joinTuple(elems [][]byte) []byte { return appendElems(nil, elems) }

func appendElems(out []byte, elems [][]byte) []byte {
	for _, e := range elems {
		if e == nil {
			out = binary.BigEndian.AppendUint32(out, 0xFFFFFFFF)
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// tupleBind is the bind expression of a value of type info: "" for a
// plain bind marker, else the tuple's shape, element by element.
func tupleBind(info gocql.TypeInfo) string {
	tu, ok := info.(gocql.TupleTypeInfo)
	if !ok {
		return ""
	}
	elems := make([]string, len(tu.Elems))
	for i, e := range tu.Elems {
		if elems[i] = tupleBind(e); elems[i] == "" {
			elems[i] = "?"
		}
	}
	return "(" + strings.Join(elems, ", ") + ")"
}

// bindValue is how to bind v, a value bound as bind says: the expression
// to write in the statement and the values it binds. A plain value is "?"
// bound to v. A tuple is written element by element, "(?, (?, ?))", as
// the driver binds no tuple whole, and a null tuple inside one as the
// literal null (binding its elements null would make a tuple of nulls,
// another value). A top-level null tuple binds its elements null, which
// is not the same as null: it is used only for values that are never
// null (keys, cells).
func bindValue(bind string, v []byte) (string, []any, error) {
	var b strings.Builder
	args, err := appendBindValue(&b, nil, bind, v, true)
	return b.String(), args, err
}

func appendBindValue(b *strings.Builder, args []any, bind string, v []byte, top bool) ([]any, error) {
	if bind == "" || bind == "?" {
		b.WriteByte('?')
		return append(args, rawValue(v)), nil
	}
	if v == nil && !top {
		b.WriteString("null")
		return args, nil
	}
	subs, err := tupleElems(bind)
	if err != nil {
		return nil, err
	}
	elems := make([][]byte, len(subs))
	for i := range elems {
		if len(v) == 0 {
			break // a tuple may end early: the rest is null
		}
		if len(v) < 4 {
			return nil, fmt.Errorf("store: a tuple element of %d bytes has no length", len(v))
		}
		size := int(int32(binary.BigEndian.Uint32(v)))
		v = v[4:]
		if size < 0 {
			continue
		}
		if size > len(v) {
			return nil, fmt.Errorf("store: tuple element %d claims %d bytes; %d remain", i, size, len(v))
		}
		elems[i], v = v[:size:size], v[size:]
	}
	if len(v) != 0 {
		return nil, fmt.Errorf("store: %d bytes after the last of %d tuple elements", len(v), len(subs))
	}
	b.WriteByte('(')
	for i, sub := range subs {
		if i > 0 {
			b.WriteString(", ")
		}
		if args, err = appendBindValue(b, args, sub, elems[i], false); err != nil {
			return nil, err
		}
	}
	b.WriteByte(')')
	return args, nil
}

// tupleElems splits a tuple's bind shape "(a, b)" into "a" and "b".
func tupleElems(bind string) ([]string, error) {
	if len(bind) < 2 || bind[0] != '(' || bind[len(bind)-1] != ')' {
		return nil, fmt.Errorf("%w: bind shape %q", ErrSnapshotCorrupt, bind)
	}
	var out []string
	depth, from := 0, 1
	for i := 1; i < len(bind)-1; i++ {
		switch bind[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(bind[from:i]))
				from = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(bind[from:len(bind)-1])), nil
}

// quoteName quotes a CQL name, so any name (mixed case, reserved words)
// is taken as it is.
func quoteName(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// unquoteName is the name a CQL identifier stands for: a quoted one as
// written, an unquoted one in lower case.
func unquoteName(id string) string {
	if len(id) >= 2 && id[0] == '"' && id[len(id)-1] == '"' {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return strings.ToLower(id)
}

// unqualify rewrites CQL statements (DESCRIBE's create_statement) so they
// name no keyspace: every "ks." before a name, where ks is an identifier
// standing for keyspace (quoted or not), outside string literals, quoted
// names and comments, is removed. It returns the statements, split at
// their semicolons, without them.
func unqualify(text, keyspace string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.TrimSpace(b.String()); s != "" {
			out = append(out, s)
		}
		b.Reset()
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\'': // string literal, '' escapes a quote
			j := i + 1
			for j < len(text) {
				if text[j] == '\'' {
					if j+1 < len(text) && text[j+1] == '\'' {
						j += 2
						continue
					}
					j++
					break
				}
				j++
			}
			b.WriteString(text[i:j])
			i = j
		case strings.HasPrefix(text[i:], "$$"):
			j := strings.Index(text[i+2:], "$$")
			if j < 0 {
				j = len(text)
			} else {
				j += i + 4
			}
			b.WriteString(text[i:j])
			i = j
		case strings.HasPrefix(text[i:], "--") || strings.HasPrefix(text[i:], "//"):
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				j = len(text)
			} else {
				j += i
			}
			b.WriteString(text[i:j])
			i = j
		case strings.HasPrefix(text[i:], "/*"):
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				j = len(text)
			} else {
				j += i + 4
			}
			b.WriteString(text[i:j])
			i = j
		case c == '"' || isNameByte(c):
			j := i + 1
			if c == '"' {
				for j < len(text) {
					if text[j] == '"' {
						if j+1 < len(text) && text[j+1] == '"' {
							j += 2
							continue
						}
						j++
						break
					}
					j++
				}
			} else {
				for j < len(text) && isNameByte(text[j]) {
					j++
				}
			}
			if j < len(text) && text[j] == '.' && unquoteName(text[i:j]) == keyspace {
				i = j + 1 // drop "ks."
				continue
			}
			b.WriteString(text[i:j])
			i = j
		case c == ';':
			flush()
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	flush()
	return out
}
