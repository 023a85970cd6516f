package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// What a Cassandra snapshot keeps, and how exactly (see snapshot.go for
// the stream):
//   - The schema as Cassandra's DESCRIBE KEYSPACE prints it (types, tables
//     with all their options, indexes), naming no keyspace, so it is
//     created as it was in the target keyspace. Functions, aggregates and
//     materialized views are refused (Chorus does not order their DDL).
//   - Every live cell with its value in its CQL encoding (every type
//     round-trips as it is), its write timestamp and its expiry: non-frozen
//     lists, sets and maps element by element, non-frozen UDTs field by
//     field, each with its own timestamp and TTL; static cells once per
//     partition. A TTL is kept as the time the cell expires, so a restore
//     later than the export does not make cells live longer.
//   - List elements are appended in their order with their own timestamps;
//     their cell names are the target node's own (they come from its clock,
//     and CQL can neither read nor set them).
//   - Counters are restored by adding their value (UPDATE c = c + v): a
//     counter cell has no timestamp CQL can read or set.
//   - What CQL cannot read is not kept: tombstones (deleted or expired
//     data is simply absent) and row markers. A row that an INSERT made
//     has a marker, with the INSERT's timestamp and TTL, which keeps the
//     row alive when all its regular cells are gone; CQL does not return
//     it. So a row with regular cells is restored from them alone (it
//     lives as long as one of them does, as a row made by UPDATE), and a
//     row with none (only its primary key) is restored by an INSERT of its
//     key, without TTL, at the timestamp of the source's progress record
//     (the last write applied before the snapshot): no later write of the
//     log has a lower one, so a later DELETE removes it as in the source.
//   - The request records of chorus_requests with their timestamps and
//     expiry, the member records of chorus_members with their timestamps,
//     then the progress record (chorus_state), written last.

// Export writes the keyspace as of its current state to w. The caller
// pauses applying while it runs: Export reads the tables one after the
// other and relies on nothing changing meanwhile. It refuses a keyspace in
// the middle of an ORDER (ErrSnapshotPartial).
func (c *Cassandra) Export(ctx context.Context, w io.Writer) (SnapshotStats, error) {
	start := time.Now()
	var stats SnapshotStats
	st, stateTS, err := c.stateWithTimestamp(ctx)
	if err != nil {
		return stats, err
	}
	if st.Partial != 0 {
		return stats, fmt.Errorf("%w: %s has applied %d writes of seq %d", ErrSnapshotPartial, c.keyspace, st.Partial, st.Applied+1)
	}
	if c.horizon > st.Applied {
		// Lanes landed writes beyond the progress (lanes.go): the rows are
		// ahead of the seq the snapshot would claim.
		return stats, fmt.Errorf("%w: %s holds writes of lanes up to seq %d beyond its progress %d", ErrSnapshotPartial, c.keyspace, c.horizon, st.Applied)
	}
	schema, err := c.describe(ctx)
	if err != nil {
		return stats, err
	}
	tables, err := c.tableDefs(ctx)
	if err != nil {
		return stats, err
	}
	fw, err := newFrameWriter(w)
	if err != nil {
		return stats, fmt.Errorf("store: writing the snapshot of %s: %w", c.keyspace, err)
	}
	fail := func(err error) (SnapshotStats, error) {
		stats.Bytes = fw.n
		return stats, fmt.Errorf("store: writing the snapshot of %s: %w", c.keyspace, err)
	}
	if err := fw.write(recHeader, snapHeader{
		Format: SnapshotFormat, Store: storeCassandra, Keyspace: c.keyspace,
		Applied: st.Applied, Epoch: st.Epoch, Taken: start.UTC(), StateTimestamp: stateTS,
	}); err != nil {
		return fail(err)
	}
	for _, s := range schema {
		if err := fw.write(recSchema, s); err != nil {
			return fail(err)
		}
	}
	marker := stateTS
	if marker == 0 { // nothing applied through Chorus: no log to stay below
		marker = start.UnixMicro()
	}
	var trailer snapTrailer
	trailer.Schema = int64(len(schema))
	for i := range tables {
		if err := fw.write(recTable, &tables[i]); err != nil {
			return fail(err)
		}
		stats.Tables++
		if err := c.exportRows(ctx, fw, &tables[i], marker, &stats); err != nil {
			return fail(err)
		}
	}
	if err := c.exportRequests(ctx, fw, &stats); err != nil {
		return fail(err)
	}
	if err := c.exportMembers(ctx, fw, &stats); err != nil {
		return fail(err)
	}
	trailer.Tables, trailer.Rows, trailer.Cells, trailer.Requests, trailer.Members = stats.Tables, stats.Rows, stats.Cells, stats.Requests, stats.Members
	trailer.Elapsed = time.Since(start)
	if err := fw.write(recEnd, trailer); err != nil {
		return fail(err)
	}
	if err := fw.flush(); err != nil {
		return fail(err)
	}
	stats.Bytes = fw.n
	return stats, nil
}

// stateWithTimestamp reads the progress record and its write timestamp.
func (c *Cassandra) stateWithTimestamp(ctx context.Context) (State, int64, error) {
	var applied, epoch, ts int64
	var partial int
	err := c.session.Query(`SELECT applied, epoch, partial, WRITETIME(applied) FROM `+stateTable+` WHERE id = 0`).WithContext(ctx).Scan(&applied, &epoch, &partial, &ts)
	if errors.Is(err, gocql.ErrNotFound) {
		return State{}, 0, nil
	}
	if err != nil {
		return State{}, 0, fmt.Errorf("reading the applied state of %s: %w", c.keyspace, classify(err))
	}
	return State{Applied: uint64(applied), Epoch: uint64(epoch), Partial: uint32(partial)}, ts, nil
}

// describe is the keyspace's schema from DESCRIBE KEYSPACE, in its order
// (types before the tables that use them, each table before its indexes),
// without the keyspace itself and Chorus's tables.
func (c *Cassandra) describe(ctx context.Context) ([]snapSchema, error) {
	indexTable := map[string]string{}
	iter := c.session.Query(`SELECT table_name, index_name FROM system_schema.indexes WHERE keyspace_name = ?`, c.keyspace).WithContext(ctx).Iter()
	var table, index string
	for iter.Scan(&table, &index) {
		indexTable[index] = table
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading the indexes of %s: %w", c.keyspace, classify(err))
	}
	var out []snapSchema
	var refused []string
	iter = c.session.Query(`DESCRIBE KEYSPACE ` + quoteName(c.keyspace)).WithContext(ctx).PageSize(1000).Iter()
	var ks, kind, name, stmt string
	for iter.Scan(&ks, &kind, &name, &stmt) {
		name = unquoteName(name)
		switch kind {
		case "keyspace":
			continue
		case "table":
			if IsReservedTable(name) {
				continue
			}
		case "index":
			if IsReservedTable(indexTable[name]) {
				continue
			}
		case "type":
		default:
			refused = append(refused, kind+" "+name)
			continue
		}
		out = append(out, snapSchema{Kind: kind, Name: name, Stmts: unqualify(stmt, c.keyspace)})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("describing keyspace %s: %w", c.keyspace, classify(err))
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("store: keyspace %s holds %s, which snapshots do not carry", c.keyspace, strings.Join(refused, ", "))
	}
	return out, nil
}

// UserTables lists the keyspace's tables other than Chorus's own, sorted.
// A keyspace with user tables but no progress record (OpenCassandra's
// State is zero, or Import failed) is a restore that did not finish:
// empty it (Reset) before importing again.
func (c *Cassandra) UserTables(ctx context.Context) ([]string, error) {
	return c.schemaNames(ctx, `SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, "tables")
}

func (c *Cassandra) schemaNames(ctx context.Context, query, what string) ([]string, error) {
	iter := c.session.Query(query, c.keyspace).WithContext(ctx).Iter()
	var out []string
	var name string
	for iter.Scan(&name) {
		if !IsReservedTable(name) {
			out = append(out, name)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("listing the %s of %s: %w", what, c.keyspace, classify(err))
	}
	slices.Sort(out)
	return out, nil
}

// tableDefs describes every user table's columns.
func (c *Cassandra) tableDefs(ctx context.Context) ([]snapTable, error) {
	names, err := c.UserTables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]snapTable, 0, len(names))
	for _, name := range names {
		t := snapTable{Name: name}
		iter := c.session.Query(`SELECT column_name, kind, position, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`, c.keyspace, name).WithContext(ctx).Iter()
		var col, kind, typ string
		var pos int
		var parts, clust []snapColumn
		var partPos, clustPos []int
		for iter.Scan(&col, &kind, &pos, &typ) {
			sc := snapColumn{Name: col, Kind: kind, Type: typ}
			switch kind {
			case "partition_key":
				parts, partPos = append(parts, sc), append(partPos, pos)
			case "clustering":
				clust, clustPos = append(clust, sc), append(clustPos, pos)
			default:
				t.Columns = append(t.Columns, sc)
			}
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("reading the columns of %s.%s: %w", c.keyspace, name, classify(err))
		}
		t.Key = append(byPosition(parts, partPos), byPosition(clust, clustPos)...)
		slices.SortFunc(t.Columns, func(a, b snapColumn) int { return strings.Compare(a.Name, b.Name) })
		// The shapes need the types as the driver sees them (UDT fields,
		// tuples).
		all := append(slices.Clone(t.Key), t.Columns...)
		sel := make([]string, len(all))
		for i, col := range all {
			sel[i] = quoteName(col.Name)
		}
		probe := c.session.Query(`SELECT ` + strings.Join(sel, ", ") + ` FROM ` + quoteName(name) + ` LIMIT 1`).WithContext(ctx).Iter()
		infos := probe.Columns()
		if err := probe.Close(); err != nil {
			return nil, fmt.Errorf("reading the column types of %s.%s: %w", c.keyspace, name, classify(err))
		}
		if len(infos) != len(all) {
			return nil, fmt.Errorf("store: %s.%s: %d column types for %d columns", c.keyspace, name, len(infos), len(all))
		}
		for i := range t.Key {
			t.Key[i].Bind = tupleBind(infos[i].TypeInfo)
		}
		for i := range t.Columns {
			info := infos[len(t.Key)+i].TypeInfo
			col := &t.Columns[i]
			col.Shape, col.Fields = shapeOf(col.Type, info)
			col.Bind = tupleBind(info)
			if col.Shape == shapeUDT {
				col.Bind = ""
				col.FieldBinds = make([]string, len(col.Fields))
				for j, f := range info.(gocql.UDTTypeInfo).Elements {
					col.FieldBinds[j] = tupleBind(f.Type)
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func byPosition(cols []snapColumn, pos []int) []snapColumn {
	idx := make([]int, len(cols))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return pos[a] - pos[b] })
	out := make([]snapColumn, len(cols))
	for i, j := range idx {
		out[i] = cols[j]
	}
	return out
}

// shapeOf is how a column of schema type typ (system_schema's text) and
// driver type info is read and written.
func shapeOf(typ string, info gocql.TypeInfo) (int, []string) {
	if strings.HasPrefix(typ, "frozen<") {
		return shapeScalar, nil
	}
	switch info.Type() {
	case gocql.TypeCounter:
		return shapeCounter, nil
	case gocql.TypeList:
		return shapeList, nil
	case gocql.TypeSet:
		return shapeSet, nil
	case gocql.TypeMap:
		return shapeMap, nil
	case gocql.TypeUDT:
		udt, ok := info.(gocql.UDTTypeInfo)
		if !ok {
			return shapeScalar, nil
		}
		fields := make([]string, len(udt.Elements))
		for i, f := range udt.Elements {
			fields[i] = f.Name
		}
		return shapeUDT, fields
	}
	return shapeScalar, nil
}

// exportRows writes every row of t.
func (c *Cassandra) exportRows(ctx context.Context, fw *frameWriter, t *snapTable, marker int64, stats *SnapshotStats) error {
	nKey, nPart := len(t.Key), 0
	for _, k := range t.Key {
		if k.Kind == "partition_key" {
			nPart++
		}
	}
	var sel []string
	for _, k := range t.Key {
		sel = append(sel, quoteName(k.Name))
	}
	cellSel := func(expr string) { sel = append(sel, expr, "WRITETIME("+expr+")", "TTL("+expr+")") }
	for _, col := range t.Columns {
		switch col.Shape {
		case shapeCounter:
			sel = append(sel, quoteName(col.Name))
		case shapeUDT:
			for _, f := range col.Fields {
				cellSel(quoteName(col.Name) + "." + quoteName(f))
			}
		default:
			cellSel(quoteName(col.Name))
		}
	}
	iter := c.session.Query(`SELECT ` + strings.Join(sel, ", ") + ` FROM ` + quoteName(t.Name)).WithContext(ctx).PageSize(1000).Iter()
	infos := iter.Columns()
	if len(infos) != len(sel) {
		iter.Close()
		return fmt.Errorf("table %s: %d columns selected, %d returned", t.Name, len(sel), len(infos))
	}
	// Tuples are scanned element by element by the driver: n dests each.
	var dest []any
	var raws []rawValue
	width := make([]int, len(infos))
	for i, info := range infos {
		width[i] = 1
		if tu, ok := info.TypeInfo.(gocql.TupleTypeInfo); ok {
			width[i] = len(tu.Elems)
		}
	}
	total := 0
	for _, w := range width {
		total += w
	}
	raws = make([]rawValue, total)
	for i := range raws {
		dest = append(dest, &raws[i])
	}
	vals := make([][]byte, len(infos))
	null := make([]bool, len(infos)) // every element nil: null, or a tuple of nulls
	counters, statics := false, false
	for _, col := range t.Columns {
		counters = counters || col.Shape == shapeCounter
		statics = statics || col.Kind == "static"
	}
	var prevPart []byte
	for iter.Scan(dest...) {
		now := time.Now().Unix()
		p := 0
		for i, w := range width {
			null[i] = true
			for _, r := range raws[p : p+w] {
				null[i] = null[i] && r == nil
			}
			if infos[i].TypeInfo.Type() == gocql.TypeTuple {
				elems := make([][]byte, w)
				for j := range elems {
					elems[j] = raws[p+j]
				}
				vals[i] = joinTuple(elems)
			} else {
				vals[i] = raws[p]
			}
			p += w
		}
		row := snapRow{Key: slices.Clone(vals[:nKey])}
		part := joinTuple(vals[:nPart])
		newPartition := prevPart == nil || string(part) != string(prevPart)
		prevPart = part
		regular := 0
		v := vals[nKey:]
		// cell adds the cell of value value with writetime wt and ttl ttl
		// (scalars, UDT fields); a null writetime is no cell (a tuple's
		// value is then all-null elements).
		cell := func(col int, path []byte, value, wt, ttl []byte) error {
			if wt == nil {
				return nil
			}
			ts, err := int64Of(wt)
			if err != nil {
				return err
			}
			exp, err := expiryOf(ttl, now)
			if err != nil {
				return err
			}
			row.Cells = append(row.Cells, snapCell{Col: col, Path: path, Value: value, TS: ts, Expires: exp})
			return nil
		}
		for ci, col := range t.Columns {
			static := col.Kind == "static"
			skip := static && !newPartition
			var err error
			n := len(row.Cells)
			switch col.Shape {
			case shapeCounter:
				if !skip && v[0] != nil {
					row.Cells = append(row.Cells, snapCell{Col: ci, Value: v[0]})
				}
				v = v[1:]
			case shapeUDT:
				for _, f := range col.Fields {
					if !skip {
						err = cell(ci, []byte(f), v[0], v[1], v[2])
					}
					v = v[3:]
					if err != nil {
						break
					}
				}
			case shapeList, shapeSet, shapeMap:
				if !skip && v[0] != nil {
					err = collectionCells(&row, ci, col.Shape, v[0], v[1], v[2], now)
				}
				v = v[3:]
			default:
				if !skip {
					err = cell(ci, nil, v[0], v[1], v[2])
				}
				v = v[3:]
			}
			if err != nil {
				iter.Close()
				return fmt.Errorf("table %s column %s: %w", t.Name, col.Name, err)
			}
			if !static {
				regular += len(row.Cells) - n
			}
		}
		// A partition's static cells alone come with null clustering
		// values (a key-only row whose clustering values are all tuples of
		// nulls cannot be told from them: the driver scans tuples element
		// by element; such a row is taken for static cells alone).
		staticOnly := statics && regular == 0 && nKey > nPart && !slices.Contains(null[nPart:nKey], false)
		if regular == 0 && !staticOnly && !counters {
			row.Marker = marker
		}
		if len(row.Cells) == 0 && row.Marker == 0 {
			continue // a counter row with no value left
		}
		if err := fw.write(recRow, &row); err != nil {
			iter.Close()
			return err
		}
		stats.Rows++
		stats.Cells += int64(len(row.Cells))
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading table %s: %w", t.Name, classify(err))
	}
	return nil
}

// collectionCells adds one cell per element of a non-frozen collection,
// with the element's own timestamp and TTL (Cassandra 5.0 selects them as
// lists in the collection's order).
func collectionCells(row *snapRow, col, shape int, value, wts, ttls []byte, now int64) error {
	elems, err := splitCollection(value, shape == shapeMap)
	if err != nil {
		return err
	}
	n := len(elems)
	if shape == shapeMap {
		n /= 2
	}
	ts, err := splitCollection(wts, false)
	if err != nil {
		return fmt.Errorf("its write times: %w", err)
	}
	var exps [][]byte
	if ttls != nil {
		if exps, err = splitCollection(ttls, false); err != nil {
			return fmt.Errorf("its TTLs: %w", err)
		}
	}
	if len(ts) != n || (exps != nil && len(exps) != n) {
		return fmt.Errorf("%d elements, %d write times, %d TTLs", n, len(ts), len(exps))
	}
	for i := range n {
		c := snapCell{Col: col}
		switch shape {
		case shapeList:
			c.Value = elems[i]
		case shapeSet:
			c.Path = elems[i]
		case shapeMap:
			c.Path, c.Value = elems[2*i], elems[2*i+1]
		}
		if c.TS, err = int64Of(ts[i]); err != nil {
			return err
		}
		if exps != nil {
			if c.Expires, err = expiryOf(exps[i], now); err != nil {
				return err
			}
		}
		row.Cells = append(row.Cells, c)
	}
	return nil
}

func int64Of(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("a write time of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// expiryOf turns a TTL as selected (an int, null for none) into the unix
// second the cell expires, 0 for none.
func expiryOf(ttl []byte, now int64) (int64, error) {
	if ttl == nil {
		return 0, nil
	}
	if len(ttl) != 4 {
		return 0, fmt.Errorf("a TTL of %d bytes", len(ttl))
	}
	if s := int32(binary.BigEndian.Uint32(ttl)); s > 0 {
		return now + int64(s), nil
	}
	return 0, nil
}

// exportRequests writes the request records.
func (c *Cassandra) exportRequests(ctx context.Context, fw *frameWriter, stats *SnapshotStats) error {
	iter := c.session.Query(`SELECT id, seq, idx, code, error, WRITETIME(id), TTL(id) FROM ` + outcomesTable).WithContext(ctx).PageSize(1000).Iter()
	var r snapRequest
	var seq, ts int64
	var idx, code, ttl int
	for iter.Scan(&r.ID, &seq, &idx, &code, &r.Error, &ts, &ttl) {
		r.Seq, r.Idx, r.Code, r.TS, r.Expires = uint64(seq), uint32(idx), code, ts, 0
		if ttl > 0 {
			r.Expires = time.Now().Unix() + int64(ttl)
		}
		if err := fw.write(recRequest, &r); err != nil {
			iter.Close()
			return err
		}
		stats.Requests++
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading %s: %w", outcomesTable, classify(err))
	}
	return nil
}

// exportMembers writes the member records.
func (c *Cassandra) exportMembers(ctx context.Context, fw *frameWriter, stats *SnapshotStats) error {
	iter := c.session.Query(`SELECT id, gen, removed, seq, WRITETIME(gen) FROM ` + membersTable).WithContext(ctx).Iter()
	var m snapMember
	var seq int64
	for iter.Scan(&m.ID, &m.Gen, &m.Removed, &seq, &m.TS) {
		m.Seq = uint64(seq)
		if err := fw.write(recMember, &m); err != nil {
			iter.Close()
			return err
		}
		stats.Members++
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading %s: %w", membersTable, classify(err))
	}
	return nil
}

// importWorkers is how many rows Import writes at once.
const importWorkers = 16

// maxBatchBytes bounds the values of one unlogged batch (Cassandra refuses
// batches over batch_size_fail_threshold, 50 KiB by default); a larger
// single statement goes alone.
const maxBatchBytes = 32 << 10

// maxGroupBytes bounds the collection elements written by one statement.
const maxGroupBytes = 256 << 10

// Import loads a snapshot into this store's keyspace, which must be empty:
// no user table or type, no progress, request or member record (else
// ErrNotEmpty, naming what it holds). It creates the schema, writes the
// rows (several at once, each row's cells in order), then the request and
// member records and, last, the progress record: the snapshot's applied
// sequence and epoch, returned (with this keyspace's generation), so the
// worker continues the log from Applied+1. A failed Import (a truncated or
// corrupt stream, ErrSnapshotTruncated or ErrSnapshotCorrupt, or a
// Cassandra failure) leaves a keyspace without progress record, whose
// tables (UserTables) say it is half restored: empty it (Reset) and import
// again. progress, if not nil, is called about every 1000 rows and at the
// end, from Import's goroutine.
func (c *Cassandra) Import(ctx context.Context, r io.Reader, progress func(RestoreProgress)) (State, error) {
	if err := c.checkEmpty(ctx); err != nil {
		return State{}, err
	}
	fr, err := newFrameReader(r)
	if err != nil {
		return State{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	im := &importer{c: c, ctx: ctx, cancel: cancel}
	im.start()
	st, err := im.run(fr, progress)
	if derr := im.drain(); err == nil {
		err = derr
	}
	if err != nil {
		return State{}, fmt.Errorf("importing a snapshot into %s: %w", c.keyspace, err)
	}
	st.Gen = c.st.Gen // the keyspace's own life, not the source's
	c.st, c.unsure, c.horizon = st, false, 0
	if progress != nil {
		progress(RestoreProgress{Bytes: fr.n, Rows: im.rows.Load()})
	}
	return st, nil
}

// checkEmpty fails unless the keyspace holds nothing but Chorus's empty
// tables.
func (c *Cassandra) checkEmpty(ctx context.Context) error {
	tables, err := c.UserTables(ctx)
	if err != nil {
		return err
	}
	types, err := c.schemaNames(ctx, `SELECT type_name FROM system_schema.types WHERE keyspace_name = ?`, "types")
	if err != nil {
		return err
	}
	var what []string
	if len(tables) > 0 {
		what = append(what, "tables "+strings.Join(tables, ", "))
	}
	if len(types) > 0 {
		what = append(what, "types "+strings.Join(types, ", "))
	}
	st, ts, err := c.stateWithTimestamp(ctx)
	if err != nil {
		return err
	}
	if ts != 0 || st != (State{}) {
		what = append(what, fmt.Sprintf("a progress record (applied %d)", st.Applied))
	}
	for _, rec := range []struct{ table, what string }{{outcomesTable, "request records"}, {membersTable, "member records"}} {
		var id string
		err = c.session.Query(`SELECT id FROM ` + rec.table + ` LIMIT 1`).WithContext(ctx).Scan(&id)
		switch {
		case err == nil:
			what = append(what, rec.what)
		case !errors.Is(err, gocql.ErrNotFound):
			return fmt.Errorf("reading %s of %s: %w", rec.table, c.keyspace, classify(err))
		}
	}
	if len(what) > 0 {
		return fmt.Errorf("%w: %s holds %s; import into an empty keyspace (Reset it)", ErrNotEmpty, c.keyspace, strings.Join(what, "; "))
	}
	return nil
}

// importer runs one Import: its goroutine reads the stream and hands rows
// and request records to workers.
type importer struct {
	c      *Cassandra
	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan importJob
	wg     sync.WaitGroup
	rows   atomic.Int64
	mu     sync.Mutex
	err    error
}

type importJob struct {
	t    *importTable
	row  *snapRow
	reqs []*snapRequest // request records, written as one unlogged batch
}

// requestBatch is how many request records go in one batch: one write
// each is what makes a snapshot taken within the dedup window slow to
// restore (a record per write of the window).
const requestBatch = 64

func (im *importer) fail(err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.err == nil {
		im.err = err
		im.cancel()
	}
}

func (im *importer) failure() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.err
}

func (im *importer) work(jobs <-chan importJob) {
	defer im.wg.Done()
	for j := range jobs {
		if im.ctx.Err() != nil {
			continue // failed: drain
		}
		var err error
		if j.row != nil {
			err = im.c.restoreRow(im.ctx, j.t, j.row)
			if err == nil {
				im.rows.Add(1)
			}
		} else {
			err = im.c.restoreRequests(im.ctx, j.reqs)
		}
		if err != nil {
			im.fail(err)
		}
	}
}

// start starts the workers.
func (im *importer) start() {
	im.jobs = make(chan importJob, 4*importWorkers)
	for range importWorkers {
		im.wg.Add(1)
		go im.work(im.jobs)
	}
}

// send hands a job to the workers.
func (im *importer) send(j importJob) error {
	select {
	case im.jobs <- j:
		return nil
	case <-im.ctx.Done():
		if err := im.failure(); err != nil {
			return err
		}
		return im.ctx.Err()
	}
}

// drain waits until the workers have done every job sent, and stops them;
// it returns the first failure.
func (im *importer) drain() error {
	if im.jobs != nil {
		close(im.jobs)
		im.jobs = nil
		im.wg.Wait()
	}
	if err := im.failure(); err != nil {
		return err
	}
	return im.ctx.Err()
}

// run reads the stream and writes it, records in their order.
func (im *importer) run(fr *frameReader, progress func(RestoreProgress)) (State, error) {
	c := im.c
	kind, body, err := fr.next()
	if err == io.EOF {
		return State{}, fmt.Errorf("%w: no header", ErrSnapshotTruncated)
	}
	if err != nil {
		return State{}, err
	}
	var h snapHeader
	if kind != recHeader {
		return State{}, fmt.Errorf("%w: it starts with a %q record, not a header", ErrSnapshotCorrupt, kind)
	}
	if err := decodeRecord(kind, body, &h); err != nil {
		return State{}, err
	}
	if err := checkHeader(h, storeCassandra); err != nil {
		return State{}, err
	}
	var got snapTrailer
	var t *importTable
	var reqs []*snapRequest  // request records not yet sent
	stage := byte(recHeader) // the last kind seen, to check the order
	for {
		kind, body, err := fr.next()
		if err == io.EOF {
			return State{}, fmt.Errorf("%w: it ends after %d bytes without its trailer", ErrSnapshotTruncated, fr.n)
		}
		if err != nil {
			return State{}, err
		}
		if !recordFollows(stage, kind) {
			return State{}, fmt.Errorf("%w: a %q record after a %q record", ErrSnapshotCorrupt, kind, stage)
		}
		if kind == recRequest && stage != recRequest {
			// Every row first: request records only once the data is there.
			if err := im.drain(); err != nil {
				return State{}, err
			}
			im.start()
		}
		stage = kind
		switch kind {
		case recSchema:
			var s snapSchema
			if err := decodeRecord(kind, body, &s); err != nil {
				return State{}, err
			}
			for _, stmt := range s.Stmts {
				if err := c.session.Query(stmt).WithContext(im.ctx).Exec(); err != nil {
					return State{}, fmt.Errorf("creating %s %s: %w", s.Kind, s.Name, classify(err))
				}
			}
			got.Schema++
		case recTable:
			var st snapTable
			if err := decodeRecord(kind, body, &st); err != nil {
				return State{}, err
			}
			t = newImportTable(&st)
			got.Tables++
		case recRow:
			row := new(snapRow)
			if err := decodeRecord(kind, body, row); err != nil {
				return State{}, err
			}
			if err := t.check(row); err != nil {
				return State{}, err
			}
			if err := im.send(importJob{t: t, row: row}); err != nil {
				return State{}, err
			}
			got.Rows++
			got.Cells += int64(len(row.Cells))
			if got.Rows%1000 == 0 && progress != nil {
				progress(RestoreProgress{Bytes: fr.n, Rows: im.rows.Load()})
			}
		case recRequest:
			req := new(snapRequest)
			if err := decodeRecord(kind, body, req); err != nil {
				return State{}, err
			}
			if reqs = append(reqs, req); len(reqs) == requestBatch {
				if err := im.send(importJob{reqs: reqs}); err != nil {
					return State{}, err
				}
				reqs = nil
			}
			got.Requests++
		case recMember:
			var m snapMember
			if err := decodeRecord(kind, body, &m); err != nil {
				return State{}, err
			}
			if err := c.session.Query(recordMember, m.ID, m.Gen, m.Removed, int64(m.Seq), m.TS).WithContext(im.ctx).Exec(); err != nil {
				return State{}, fmt.Errorf("writing member record %s: %w", m.ID, classify(err))
			}
			got.Members++
		case recEnd:
			var want snapTrailer
			if err := decodeRecord(kind, body, &want); err != nil {
				return State{}, err
			}
			if err := checkTrailer(got, want); err != nil {
				return State{}, err
			}
			if len(reqs) > 0 {
				if err := im.send(importJob{reqs: reqs}); err != nil {
					return State{}, err
				}
				reqs = nil
			}
			if _, _, err := fr.next(); err != io.EOF {
				if err == nil {
					err = errors.New("data after the trailer")
				}
				return State{}, fmt.Errorf("%w: %v", ErrSnapshotCorrupt, err)
			}
			if err := im.drain(); err != nil {
				return State{}, err
			}
			// Last: the progress record says the keyspace is restored.
			ts := max(h.StateTimestamp, 1)
			if err := c.session.Query(recordState, ts, int64(h.Applied), int64(h.Epoch), 0).WithContext(im.ctx).Exec(); err != nil {
				return State{}, fmt.Errorf("writing the progress record: %w", classify(err))
			}
			return State{Applied: h.Applied, Epoch: h.Epoch}, nil
		default:
			return State{}, fmt.Errorf("%w: a %q record in a Cassandra snapshot", ErrSnapshotCorrupt, kind)
		}
	}
}

// importTable is a table being imported.
type importTable struct {
	t     *snapTable
	nPart int
}

func newImportTable(t *snapTable) *importTable {
	it := &importTable{t: t}
	for _, k := range t.Key {
		if k.Kind == "partition_key" {
			it.nPart++
		}
	}
	return it
}

// check rejects a row that does not fit its table.
func (it *importTable) check(row *snapRow) error {
	if it == nil {
		return fmt.Errorf("%w: a row before any table", ErrSnapshotCorrupt)
	}
	if len(row.Key) != len(it.t.Key) {
		return fmt.Errorf("%w: a row of %s with %d key values for %d key columns", ErrSnapshotCorrupt, it.t.Name, len(row.Key), len(it.t.Key))
	}
	for _, c := range row.Cells {
		if c.Col < 0 || c.Col >= len(it.t.Columns) {
			return fmt.Errorf("%w: a cell of %s in column %d of %d", ErrSnapshotCorrupt, it.t.Name, c.Col, len(it.t.Columns))
		}
	}
	return nil
}

// stmt is one statement of a row's restore.
type stmt struct {
	text string
	args []any
	size int
}

// restoreRow writes one row: its cells in order, in unlogged batches of
// the row's partition, collection elements of one column with equal
// timestamp and expiry grouped in one statement (list elements in order,
// so the list keeps it). Cells expired since the export are skipped.
func (c *Cassandra) restoreRow(ctx context.Context, it *importTable, row *snapRow) error {
	now := time.Now().Unix()
	table := quoteName(it.t.Name)
	// The conditions on the key, and on the partition key alone (static
	// cells), with their values.
	var conds, names, exprs []string
	var key, part []any
	var where, wherePart string
	for i, k := range row.Key {
		if i == it.nPart {
			wherePart, part = " WHERE "+strings.Join(conds, " AND "), slices.Clone(key)
		}
		expr, args, err := bindValue(it.t.Key[i].Bind, k)
		if err != nil {
			return fmt.Errorf("%s key %s: %w", it.t.Name, it.t.Key[i].Name, err)
		}
		names, exprs = append(names, quoteName(it.t.Key[i].Name)), append(exprs, expr)
		conds = append(conds, quoteName(it.t.Key[i].Name)+" = "+expr)
		key = append(key, args...)
	}
	where = " WHERE " + strings.Join(conds, " AND ")
	if part == nil {
		wherePart, part = where, key
	}
	var stmts []stmt
	counter := false
	for i := 0; i < len(row.Cells); {
		cell := row.Cells[i]
		col := &it.t.Columns[cell.Col]
		name := quoteName(col.Name)
		w, k := where, key
		if col.Kind == "static" {
			w, k = wherePart, part
		}
		ttl := 0
		if cell.Expires != 0 {
			if ttl = int(cell.Expires - now); ttl <= 0 {
				i++
				continue // expired since the export
			}
		}
		head := `UPDATE ` + table + ` USING TIMESTAMP ? AND TTL ? SET `
		switch col.Shape {
		case shapeCounter:
			counter = true
			stmts = append(stmts, stmt{text: `UPDATE ` + table + ` SET ` + name + ` = ` + name + ` + ?` + w, args: append([]any{rawValue(cell.Value)}, k...), size: len(cell.Value)})
			i++
		case shapeUDT:
			f := slices.Index(col.Fields, string(cell.Path))
			if f < 0 {
				return fmt.Errorf("%w: %s.%s has no field %q", ErrSnapshotCorrupt, it.t.Name, col.Name, cell.Path)
			}
			fb := ""
			if f < len(col.FieldBinds) {
				fb = col.FieldBinds[f]
			}
			expr, args, err := bindValue(fb, cell.Value)
			if err != nil {
				return fmt.Errorf("%s.%s.%s: %w", it.t.Name, col.Name, col.Fields[f], err)
			}
			text := head + name + `.` + quoteName(col.Fields[f]) + ` = ` + expr + w
			stmts = append(stmts, stmt{text: text, args: append(append([]any{cell.TS, ttl}, args...), k...), size: len(cell.Value)})
			i++
		case shapeList, shapeSet, shapeMap:
			var elems [][]byte
			size, j := 0, i
			for ; j < len(row.Cells) && size < maxGroupBytes; j++ {
				e := row.Cells[j]
				if e.Col != cell.Col || e.TS != cell.TS || e.Expires != cell.Expires {
					break
				}
				switch col.Shape {
				case shapeList:
					elems = append(elems, e.Value)
				case shapeSet:
					elems = append(elems, e.Path)
				case shapeMap:
					elems = append(elems, e.Path, e.Value)
				}
				size += len(e.Path) + len(e.Value)
			}
			text := head + name + ` = ` + name + ` + ?` + w
			stmts = append(stmts, stmt{text: text, args: append([]any{cell.TS, ttl, rawValue(joinCollection(j-i, elems))}, k...), size: size})
			i = j
		default:
			expr, args, err := bindValue(col.Bind, cell.Value)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", it.t.Name, col.Name, err)
			}
			stmts = append(stmts, stmt{text: head + name + ` = ` + expr + w, args: append(append([]any{cell.TS, ttl}, args...), k...), size: len(cell.Value)})
			i++
		}
	}
	if row.Marker > 0 {
		text := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(exprs, ", ") + `) USING TIMESTAMP ?`
		stmts = append(stmts, stmt{text: text, args: append(slices.Clone(key), row.Marker)})
	}
	typ := gocql.UnloggedBatch
	if counter {
		typ = gocql.CounterBatch
	}
	for len(stmts) > 0 {
		n, size := 1, stmts[0].size
		for n < len(stmts) && size+stmts[n].size <= maxBatchBytes {
			size += stmts[n].size
			n++
		}
		var err error
		if n == 1 {
			err = c.session.Query(stmts[0].text, stmts[0].args...).WithContext(ctx).Exec()
		} else {
			b := c.session.NewBatch(typ).WithContext(ctx)
			for _, s := range stmts[:n] {
				b.Query(s.text, s.args...)
			}
			err = c.session.ExecuteBatch(b)
		}
		if err != nil {
			return fmt.Errorf("writing a row of %s: %w", it.t.Name, classify(err))
		}
		stmts = stmts[n:]
	}
	return nil
}

// restoreRequest writes a request record with its timestamp and what
// remains of its TTL.
func (c *Cassandra) restoreRequests(ctx context.Context, rs []*snapRequest) error {
	b := c.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	now := time.Now().Unix()
	for _, r := range rs {
		ttl := 0
		if r.Expires != 0 {
			if ttl = int(r.Expires - now); ttl <= 0 {
				continue // expired since the export
			}
		}
		b.Query(recordRequest, bucketOf(r.Seq), int64(r.Seq), int(r.Idx), r.ID, r.Code, r.Error, ttl, r.TS)
	}
	if b.Size() == 0 {
		return nil
	}
	if err := c.session.ExecuteBatch(b); err != nil {
		return fmt.Errorf("writing %d request records (from %s): %w", b.Size(), rs[0].ID, classify(err))
	}
	return nil
}
