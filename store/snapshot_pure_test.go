package store

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestSplitJoinCollection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count int
		elems [][]byte
		pairs bool
	}{
		{"empty list", 0, nil, false},
		{"list", 3, [][]byte{{0, 0, 0, 1}, {}, {0xff}}, false},
		{"null element", 2, [][]byte{nil, {1}}, false},
		{"map", 2, [][]byte{[]byte("a"), {0, 0, 0, 1}, []byte(""), {0, 0, 0, 2}}, true},
	} {
		b := joinCollection(tc.count, tc.elems)
		got, err := splitCollection(b, tc.pairs)
		if err != nil {
			t.Fatalf("%s: split(%x): %v", tc.name, b, err)
		}
		if len(got) != len(tc.elems) {
			t.Fatalf("%s: %d elements back; want %d", tc.name, len(got), len(tc.elems))
		}
		for i := range got {
			if (got[i] == nil) != (tc.elems[i] == nil) || !bytes.Equal(got[i], tc.elems[i]) {
				t.Fatalf("%s: element %d = %x (nil %v); want %x (nil %v)", tc.name, i, got[i], got[i] == nil, tc.elems[i], tc.elems[i] == nil)
			}
		}
	}
	// The driver's own encoding of list<int> [1, 2] and map<text,int> {'a': 1}.
	list := []byte{0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2}
	if got, _ := splitCollection(list, false); !reflect.DeepEqual(got, [][]byte{{0, 0, 0, 1}, {0, 0, 0, 2}}) {
		t.Fatalf("split list [1, 2] = %x", got)
	}
	if !bytes.Equal(joinCollection(2, [][]byte{{0, 0, 0, 1}, {0, 0, 0, 2}}), list) {
		t.Fatal("join of [1, 2] differs from the protocol's encoding")
	}
	for _, bad := range [][]byte{nil, {0, 0, 0}, {0, 0, 0, 1}, {0, 0, 0, 1, 0, 0, 0, 5, 1}, {0, 0, 0, 1, 0, 0, 0, 1, 1, 9}, {0xff, 0xff, 0xff, 0xff}} {
		if _, err := splitCollection(bad, false); err == nil {
			t.Errorf("split(%x) succeeded; want an error", bad)
		}
	}
}

func TestJoinTuple(t *testing.T) {
	got := joinTuple([][]byte{{0, 0, 0, 1}, nil, {}})
	want := []byte{0, 0, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("joinTuple = %x; want %x", got, want)
	}
}

func TestUnqualify(t *testing.T) {
	for _, tc := range []struct {
		ks, in string
		want   []string
	}{
		{"ks", "CREATE TABLE ks.t (id int PRIMARY KEY) WITH comment = 'ks.t it''s';", []string{"CREATE TABLE t (id int PRIMARY KEY) WITH comment = 'ks.t it''s'"}},
		{"ks", `CREATE TABLE ks."T1" (id int PRIMARY KEY, "ks" int)`, []string{`CREATE TABLE "T1" (id int PRIMARY KEY, "ks" int)`}},
		{"Ks", `CREATE TYPE "Ks".addr (street text); CREATE INDEX i ON "Ks"."ks.x" (s);`, []string{`CREATE TYPE addr (street text)`, `CREATE INDEX i ON "ks.x" (s)`}},
		{"ks", `CREATE TABLE ks2.t (a int) /* ks.x */ -- ks.y`, []string{`CREATE TABLE ks2.t (a int) /* ks.x */ -- ks.y`}},
		{"ks", `CREATE INDEX "ks_i" ON KS.t (values(m))`, []string{`CREATE INDEX "ks_i" ON t (values(m))`}},
	} {
		if got := unqualify(tc.in, tc.ks); !slices.Equal(got, tc.want) {
			t.Errorf("unqualify(%q, %q) = %q; want %q", tc.in, tc.ks, got, tc.want)
		}
	}
}

func TestRawValueKeepsNullAndEmpty(t *testing.T) {
	var r rawValue
	if err := r.UnmarshalCQL(nil, []byte{}); err != nil || r == nil || len(r) != 0 {
		t.Fatalf("empty value scanned as %#v", r)
	}
	if b, _ := r.MarshalCQL(nil); b == nil {
		t.Fatal("empty value marshaled as null")
	}
	if err := r.UnmarshalCQL(nil, nil); err != nil || r != nil {
		t.Fatalf("null scanned as %#v", r)
	}
	// And through the stream's encoding.
	row := snapRow{Key: [][]byte{{}, nil, {1}}, Cells: []snapCell{{Col: 1, Value: []byte{}, TS: -5, Expires: 7}}, Marker: 3}
	b, err := msgpack.Marshal(&row)
	if err != nil {
		t.Fatal(err)
	}
	var back snapRow
	if err := msgpack.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Key[0] == nil || back.Key[1] != nil || back.Cells[0].Value == nil || back.Cells[0].Path != nil || !reflect.DeepEqual(back, row) {
		t.Fatalf("row after msgpack = %#v; want %#v", back, row)
	}
}

// stream frames records of the given kinds and bodies.
func stream(t *testing.T, recs ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := newFrameWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(recs); i += 2 {
		if err := fw.write(recs[i].(byte), recs[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	if fw.n != int64(buf.Len()) {
		t.Fatalf("writer counted %d bytes; wrote %d", fw.n, buf.Len())
	}
	return buf.Bytes()
}

func TestFraming(t *testing.T) {
	b := stream(t, byte(recHeader), snapHeader{Format: 1, Store: "memory"}, byte(recWrite), &snapWrite{Seq: 1, Stmt: "x"}, byte(recEnd), snapTrailer{Writes: 1})
	fr, err := newFrameReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []byte
	for {
		k, body, err := fr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
		if k == recWrite {
			var w snapWrite
			if err := decodeRecord(k, body, &w); err != nil || w.Seq != 1 || w.Stmt != "x" {
				t.Fatalf("write record = %+v, %v", w, err)
			}
		}
	}
	if string(kinds) != "HWE" || fr.n != int64(len(b)) {
		t.Fatalf("kinds %q, %d bytes read of %d", kinds, fr.n, len(b))
	}
	// Every truncation is detected: inside a record, or between records
	// (no trailer).
	for n := 0; n < len(b); n++ {
		_, err := NewMemory().Import(t.Context(), bytes.NewReader(b[:n]), nil)
		if !errors.Is(err, ErrSnapshotTruncated) {
			t.Fatalf("Import of the first %d of %d bytes: %v; want ErrSnapshotTruncated", n, len(b), err)
		}
	}
	// Every flipped byte is detected.
	for n := 0; n < len(b); n++ {
		bad := slices.Clone(b)
		bad[n] ^= 0x20
		m := NewMemory()
		if _, err := m.Import(t.Context(), bytes.NewReader(bad), nil); err == nil {
			t.Fatalf("Import with byte %d flipped succeeded", n)
		}
		if st := m.State(); st.Applied != 0 || st.Epoch != 0 || len(m.History()) != 0 {
			t.Fatalf("a failed Import changed the Memory: %+v", m.State())
		}
	}
	if _, err := NewMemory().Import(t.Context(), bytes.NewReader(b), nil); err != nil {
		t.Fatalf("Import of the whole stream: %v", err)
	}
	// A trailer that does not match, and data after it.
	short := stream(t, byte(recHeader), snapHeader{Format: 1, Store: "memory"}, byte(recEnd), snapTrailer{Writes: 1})
	if _, err := NewMemory().Import(t.Context(), bytes.NewReader(short), nil); !errors.Is(err, ErrSnapshotTruncated) {
		t.Fatalf("Import with a write missing: %v; want ErrSnapshotTruncated", err)
	}
	extra := append(slices.Clone(b), stream(t, byte(recEnd), snapTrailer{})[len(snapshotMagic):]...)
	if _, err := NewMemory().Import(t.Context(), bytes.NewReader(extra), nil); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Import with data after the trailer: %v; want ErrSnapshotCorrupt", err)
	}
	cass := stream(t, byte(recHeader), snapHeader{Format: 1, Store: storeCassandra}, byte(recEnd), snapTrailer{})
	if _, err := NewMemory().Import(t.Context(), bytes.NewReader(cass), nil); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Import of a Cassandra snapshot into a Memory: %v; want ErrSnapshotCorrupt", err)
	}
	future := stream(t, byte(recHeader), snapHeader{Format: 2, Store: storeMemory}, byte(recEnd), snapTrailer{})
	if _, err := NewMemory().Import(t.Context(), bytes.NewReader(future), nil); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Fatalf("Import of format 2: %v; want ErrSnapshotCorrupt", err)
	}
}

func TestBindValue(t *testing.T) {
	one, two := []byte{0, 0, 0, 1}, []byte{0, 0, 0, 2}
	inner := joinTuple([][]byte{[]byte("a"), two})
	for _, tc := range []struct {
		bind  string
		v     []byte
		expr  string
		nargs int
	}{
		{"", one, "?", 1},
		{"(?, ?)", joinTuple([][]byte{one, nil}), "(?, ?)", 2},
		{"(?, (?, ?))", joinTuple([][]byte{one, inner}), "(?, (?, ?))", 3},
		{"(?, (?, ?))", joinTuple([][]byte{one, nil}), "(?, null)", 1},
		{"(?, (?, ?))", joinTuple([][]byte{one}), "(?, null)", 1}, // ends early
		{"(?, (?, ?))", nil, "(?, null)", 1},
	} {
		expr, args, err := bindValue(tc.bind, tc.v)
		if err != nil || expr != tc.expr || len(args) != tc.nargs {
			t.Errorf("bindValue(%q, %x) = %q, %d args, %v; want %q, %d args", tc.bind, tc.v, expr, len(args), err, tc.expr, tc.nargs)
		}
	}
	if _, _, err := bindValue("(?, ?)", []byte{0, 0, 0, 9, 1}); err == nil {
		t.Error("bindValue of a short tuple element succeeded")
	}
	if got, _ := tupleElems("(?, (?, (?, ?)), ?)"); !slices.Equal(got, []string{"?", "(?, (?, ?))", "?"}) {
		t.Errorf("tupleElems = %q", got)
	}
}
