package store_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// TestMemorySnapshotRoundTrip: a Memory imported from another's snapshot
// answers as the source does (State, History, Query, Requests), and goes
// on applying from Applied+1.
func TestMemorySnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := store.NewMemory()
	var orders []messages.Order
	for seq := uint64(1); seq <= 2500; seq++ {
		id := strconv.FormatUint(seq, 10)
		o := order(seq, "a"+id, "b"+id)
		o.Epoch = 1 + seq/1000
		mustApply(t, src, o)
		orders = append(orders, o)
	}
	// Two members, one removed.
	for i, ch := range []messages.MemberChange{{Op: messages.MemberAdd, ID: "w1", Gen: "g1"}, {Op: messages.MemberRemove, ID: "w2", Gen: "g2"}} {
		mustApply(t, src, messages.Order{Epoch: 3, Seq: 2501 + uint64(i), Kind: messages.OrderMember, Timestamp: 1, Member: &ch})
	}
	var buf bytes.Buffer
	stats, err := src.Export(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != 5000 || stats.Requests != 5000 || stats.Members != 2 || stats.Bytes != int64(buf.Len()) {
		t.Fatalf("stats %+v for %d bytes; want 5000 writes and request records, 2 members", stats, buf.Len())
	}
	dst := store.NewMemory()
	var reports []store.RestoreProgress
	st, err := dst.Import(ctx, bytes.NewReader(buf.Bytes()), func(p store.RestoreProgress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	// The generation is the keyspace's own: a restored keyspace is a new life.
	if want := src.State(); st.Applied != want.Applied || st.Epoch != want.Epoch || dst.State() != st || st.Gen == want.Gen {
		t.Fatalf("Import state %+v, Memory %+v; want the source's %+v", st, dst.State(), src.State())
	}
	if !reflect.DeepEqual(dst.History(), src.History()) {
		t.Fatal("History after Import differs from the source's")
	}
	_, gotRows, err1 := dst.Query(ctx, "SELECT * FROM t")
	_, wantRows, err2 := src.Query(ctx, "SELECT * FROM t")
	if err1 != nil || err2 != nil || !bytes.Equal(gotRows, wantRows) {
		t.Fatalf("Query after Import differs (%v, %v)", err1, err2)
	}
	gotReq, _ := dst.Requests(ctx)
	wantReq, _ := src.Requests(ctx)
	if !reflect.DeepEqual(gotReq, wantReq) {
		t.Fatal("Requests after Import differ from the source's")
	}
	gotMem, _ := dst.Members(ctx)
	wantMem, _ := src.Members(ctx)
	if len(wantMem) != 2 || !reflect.DeepEqual(gotMem, wantMem) {
		t.Fatalf("Members after Import = %+v; the source's %+v", gotMem, wantMem)
	}
	if len(reports) < 5 || reports[len(reports)-1] != (store.RestoreProgress{Bytes: int64(buf.Len()), Rows: 5000}) {
		t.Fatalf("progress reports %+v; want one per 1000 writes and the totals last", reports)
	}
	// It continues the log; a retried request gets its recorded outcome.
	next := order(st.Applied+1, "c")
	next.Epoch = 3
	mustApply(t, dst, next)
	if st := dst.State(); st.Applied != 2503 || st.Epoch != 3 {
		t.Fatalf("state after the next ORDER = %+v; want applied 2503, epoch 3", st)
	}
	if outs := mustApply(t, dst, orders[0]); !reflect.DeepEqual(outs, successes(orders[0])) {
		t.Fatalf("seq 1 applied again after Import: %+v; want its recorded outcomes", outs)
	}
	if st := dst.State(); st.Applied != 2503 || st.Epoch != 3 {
		t.Fatalf("state after the next ORDER = %+v; want applied 2503, epoch 3", st)
	}

	// Import into a Memory that holds data fails and changes nothing.
	if _, err := src.Import(ctx, bytes.NewReader(buf.Bytes()), nil); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("Import into a non-empty Memory: %v; want ErrNotEmpty", err)
	}
}

// TestMemoryExportRefusesPartial: no snapshot in the middle of an ORDER.
func TestMemoryExportRefusesPartial(t *testing.T) {
	m := store.NewMemory()
	m.FailAfter(1, nil)
	if _, err := m.Apply(context.Background(), []messages.Order{order(1, "a", "b")}); err == nil {
		t.Fatal("Apply with FailAfter(1) succeeded")
	}
	var buf bytes.Buffer
	if _, err := m.Export(context.Background(), &buf); !errors.Is(err, store.ErrSnapshotPartial) {
		t.Fatalf("Export mid-ORDER: %v; want ErrSnapshotPartial", err)
	}
}
