package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// order is ORDER seq of epoch 1 with one write per request id.
func order(seq uint64, ids ...string) messages.Order {
	o := messages.Order{Epoch: 1, Seq: seq, Timestamp: int64(seq) * 1000}
	for _, id := range ids {
		o.Writes = append(o.Writes, messages.Write{RequestID: id, Stmt: "INSERT INTO t (id) VALUES ('" + id + "')"})
	}
	return o
}

// applied is the history entry of write k of o.
func applied(o messages.Order, k int) store.MemoryWrite {
	return store.MemoryWrite{Seq: o.Seq, Index: uint32(k), RequestID: o.Writes[k].RequestID, Stmt: o.Writes[k].Stmt, Timestamp: o.WriteTimestamp(k)}
}

// successes are the outcomes of orders all applied without error.
func successes(orders ...messages.Order) [][]messages.Outcome {
	outs := make([][]messages.Outcome, len(orders))
	for n, o := range orders {
		outs[n] = make([]messages.Outcome, len(o.Writes))
		for k := range o.Writes {
			outs[n][k] = messages.Outcome{Seq: o.Seq, Index: uint32(k)}
		}
	}
	return outs
}

func mustApply(t *testing.T, m *store.Memory, orders ...messages.Order) [][]messages.Outcome {
	t.Helper()
	outs, err := m.Apply(context.Background(), orders)
	if err != nil {
		t.Fatalf("Apply(seq %d..): %v", orders[0].Seq, err)
	}
	return outs
}

func checkState(t *testing.T, m *store.Memory, want store.State) {
	t.Helper()
	got := m.State()
	if got.Gen == "" {
		t.Fatal("a Memory without a generation")
	}
	if got.Gen, got.TS = "", 0; got != want {
		t.Fatalf("State() = %+v; want %+v", got, want)
	}
}

func checkHistory(t *testing.T, m *store.Memory, want ...store.MemoryWrite) {
	t.Helper()
	if got := m.History(); !reflect.DeepEqual(got, append([]store.MemoryWrite{}, want...)) {
		t.Fatalf("History() = %+v; want %+v", got, want)
	}
}

func TestMemoryAppliesOrdersInOrder(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a", "b"), order(2, "c")
	o2.Epoch = 3
	if outs := mustApply(t, m, o1, o2); !reflect.DeepEqual(outs, successes(o1, o2)) {
		t.Fatalf("outcomes = %+v; want %+v", outs, successes(o1, o2))
	}
	checkHistory(t, m, applied(o1, 0), applied(o1, 1), applied(o2, 0))
	checkState(t, m, store.State{Applied: 2, Epoch: 3})
	reqs, err := m.Requests(context.Background())
	want := []store.Request{
		{ID: "a", Outcome: messages.Outcome{Seq: 1, Index: 0}},
		{ID: "b", Outcome: messages.Outcome{Seq: 1, Index: 1}},
		{ID: "c", Outcome: messages.Outcome{Seq: 2, Index: 0}},
	}
	if err != nil || !reflect.DeepEqual(reqs, want) {
		t.Fatalf("Requests() = %+v, %v; want %+v", reqs, err, want)
	}
}

// TestMemorySkipsSeqsWithoutWrites: epoch markers and skipped entries take
// a sequence number but never reach the store.
func TestMemorySkipsSeqsWithoutWrites(t *testing.T) {
	m := store.NewMemory()
	o1, o4 := order(1, "a"), order(4, "b")
	mustApply(t, m, o1, o4)
	checkHistory(t, m, applied(o1, 0), applied(o4, 0))
	checkState(t, m, store.State{Applied: 4, Epoch: 1})
}

func TestMemoryReapplyReturnsRecordedOutcomes(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a", "b"), order(2, "c")
	mustApply(t, m, o1)
	if outs := mustApply(t, m, o1, o2); !reflect.DeepEqual(outs, successes(o1, o2)) {
		t.Fatalf("outcomes = %+v; want %+v", outs, successes(o1, o2))
	}
	mustApply(t, m, o1, o2)
	checkHistory(t, m, applied(o1, 0), applied(o1, 1), applied(o2, 0))
	checkState(t, m, store.State{Applied: 2, Epoch: 1})
}

// TestMemoryReapplyAfterIDReuse: an ORDER applied again whose request id
// was since reused gets Cassandra's answer: applied, outcome no longer
// known; never a made-up success.
func TestMemoryReapplyAfterIDReuse(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a"), order(2, "a")
	mustApply(t, m, o1, o2)
	outs := mustApply(t, m, o1)
	if got := outs[0][0]; got.Code != messages.CodeInternal || got.Seq != 1 || got.Index != 0 {
		t.Fatalf("re-applied seq 1 after its id was reused by seq 2: outcome %+v; want CodeInternal (outcome lost)", got)
	}
	checkHistory(t, m, applied(o1, 0), applied(o2, 0))
}

// TestMemoryPartialProgress: a failure in the middle of an ORDER leaves
// the writes before it applied and recorded; the retry applies the rest
// once and reports every write's outcome.
func TestMemoryPartialProgress(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a", "b", "c"), order(2, "d")
	boom := errors.New("write timed out")
	m.FailAfter(1, boom)
	if _, err := m.Apply(context.Background(), []messages.Order{o1, o2}); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, boom) {
		t.Fatalf("Apply after FailAfter(1) = %v; want an error wrapping ErrUnavailable and %q", err, boom)
	}
	checkState(t, m, store.State{Applied: 0, Epoch: 1, Partial: 1})
	checkHistory(t, m, applied(o1, 0))

	if outs := mustApply(t, m, o1, o2); !reflect.DeepEqual(outs, successes(o1, o2)) {
		t.Fatalf("outcomes of the retry = %+v; want %+v", outs, successes(o1, o2))
	}
	checkState(t, m, store.State{Applied: 2, Epoch: 1})
	checkHistory(t, m, applied(o1, 0), applied(o1, 1), applied(o1, 2), applied(o2, 0))
}

// TestMemoryFailAfterAcrossOrders: the failure may fall on an ORDER
// boundary; the progress then says the first ORDER is whole.
func TestMemoryFailAfterAcrossOrders(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a"), order(2, "b")
	m.FailAfter(1, nil)
	if _, err := m.Apply(context.Background(), []messages.Order{o1, o2}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Apply after FailAfter(1, nil) = %v; want an error wrapping ErrUnavailable", err)
	}
	checkState(t, m, store.State{Applied: 1, Epoch: 1})
	checkHistory(t, m, applied(o1, 0))
}

func TestMemoryFailNext(t *testing.T) {
	boom := errors.New("connection refused")
	for _, tc := range []struct {
		name            string
		err             error
		wantUnavailable bool // the failures wrap ErrUnavailable
		wantLost        bool // the failures wrap ErrKeyspaceLost
	}{
		{"plain error", boom, true, false},
		{"no error given", nil, true, false},
		{"already unavailable", fmt.Errorf("%w: timeout", store.ErrUnavailable), true, false},
		{"keyspace lost stays lost", store.ErrKeyspaceLost, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := store.NewMemory()
			o1 := order(1, "a")
			m.FailNext(2, tc.err)
			for call := 1; call <= 2; call++ {
				outs, err := m.Apply(context.Background(), []messages.Order{o1})
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) ||
					errors.Is(err, store.ErrUnavailable) != tc.wantUnavailable || errors.Is(err, store.ErrKeyspaceLost) != tc.wantLost {
					t.Fatalf("call %d: Apply = %v, %v; want an error wrapping %v (ErrUnavailable: %v, ErrKeyspaceLost: %v)",
						call, outs, err, tc.err, tc.wantUnavailable, tc.wantLost)
				}
			}
			checkHistory(t, m)
			checkState(t, m, store.State{})
			mustApply(t, m, o1)
			checkHistory(t, m, applied(o1, 0))
		})
	}
}

// TestMemoryGate: a blocked store holds Apply until Unblock, applying
// nothing meanwhile; a held call whose context ends fails like a timeout.
func TestMemoryGate(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a"), order(2, "b")
	m.Block()
	done := make(chan error, 1)
	go func() {
		_, err := m.Apply(context.Background(), []messages.Order{o1})
		done <- err
	}()
	chorustest.Eventually(t, 5*time.Second, func() error {
		if n := m.Waiting(); n != 1 {
			return fmt.Errorf("%d Apply calls held at the gate, want 1", n)
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("Apply returned (%v) while the store is blocked", err)
	default:
	}
	checkHistory(t, m)

	// A held call gives up when its context ends, applying nothing.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := m.Apply(ctx, []messages.Order{o2})
		gaveUp <- err
	}()
	chorustest.Eventually(t, 5*time.Second, func() error {
		if n := m.Waiting(); n != 2 {
			return fmt.Errorf("%d Apply calls held at the gate, want 2", n)
		}
		return nil
	})
	cancel()
	if err := <-gaveUp; !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("held Apply after its context ended = %v; want ErrUnavailable wrapping context.Canceled", err)
	}
	checkHistory(t, m)

	m.Unblock()
	if err := <-done; err != nil {
		t.Fatalf("held Apply after Unblock = %v", err)
	}
	if n := m.Waiting(); n != 0 {
		t.Fatalf("Waiting() = %d after Unblock; want 0", n)
	}
	checkHistory(t, m, applied(o1, 0))
	mustApply(t, m, o2) // open again: passes at once
	checkState(t, m, store.State{Applied: 2, Epoch: 1})
}

// TestMemoryCloseAndReopen: a closed Memory refuses use; reopened, as by a
// restarted worker, it has kept its data.
func TestMemoryCloseAndReopen(t *testing.T) {
	m := store.NewMemory()
	o1, o2 := order(1, "a"), order(2, "b")
	mustApply(t, m, o1)
	m.Close()
	if !m.Closed() {
		t.Fatal("Closed() = false after Close")
	}
	if _, err := m.Apply(context.Background(), []messages.Order{o2}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Apply after Close = %v; want ErrClosed", err)
	}
	if _, err := m.Requests(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Requests after Close = %v; want ErrClosed", err)
	}
	if _, _, err := m.Query(context.Background(), "SELECT * FROM t"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Query after Close = %v; want ErrClosed", err)
	}
	if st := m.Reopen(); st.Applied != 1 || st.Epoch != 1 || st.Gen == "" || m.Closed() {
		t.Fatalf("Reopen() = %+v, closed %v; want the state of seq 1, open", st, m.Closed())
	}
	mustApply(t, m, o1, o2)
	checkHistory(t, m, applied(o1, 0), applied(o2, 0))
}

func TestMemoryQueryAnswersWithHistory(t *testing.T) {
	m := store.NewMemory()
	o1 := order(1, "a", "b")
	mustApply(t, m, o1)
	cols, rows, err := m.Query(context.Background(), "SELECT * FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"seq", "index", "request_id", "stmt", "timestamp"}; !reflect.DeepEqual(cols, want) {
		t.Fatalf("columns = %q; want %q", cols, want)
	}
	var got []store.MemoryWrite
	if err := json.Unmarshal(rows, &got); err != nil {
		t.Fatalf("rows %s: %v", rows, err)
	}
	if want := []store.MemoryWrite{applied(o1, 0), applied(o1, 1)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows = %+v; want %+v", got, want)
	}
}

// TestMemoryConcurrentUse: tests read the store while an apply loop
// writes (run with -race to check the locking).
func TestMemoryConcurrentUse(t *testing.T) {
	m := store.NewMemory()
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint64(1); seq <= n; seq++ {
			if _, err := m.Apply(context.Background(), []messages.Order{order(seq, fmt.Sprint(seq))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for m.State().Applied < n && !t.Failed() {
		h := m.History()
		if st := m.State(); uint64(len(h)) > st.Applied {
			t.Fatalf("history of %d writes read before a state of %d", len(h), st.Applied)
		}
		_, _ = m.Requests(context.Background())
	}
	wg.Wait()
	if h := m.History(); len(h) != n {
		t.Fatalf("history holds %d writes; want %d", len(h), n)
	}
}
