package feed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/messages"
)

// windowEnv is a real nats-server with the shipped changes stream, its
// messages bounded to 1 KiB so that a test can make one change refused.
func windowEnv(t *testing.T) (jetstream.JetStream, jetstream.Stream, messages.Subjects) {
	js := chorustest.JetStream(t)
	subj := messages.NewSubjects("windowtest")
	cfg := feed.StreamConfig(subj, 1, 0)
	cfg.MaxMsgSize = 1024
	st, err := js.CreateStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return js, st, subj
}

func changeAt(seq uint64, stmt string) messages.Change {
	return messages.Change{Seq: seq, Table: "t", Kind: "INSERT", Stmt: stmt, RequestID: fmt.Sprint("r", seq), Epoch: 1}
}

// keys lists the stream's messages as their Chorus keys, in stream order.
func keys(t *testing.T, st jetstream.Stream) []string {
	t.Helper()
	ctx := context.Background()
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for s := info.State.FirstSeq; info.State.Msgs > 0 && s <= info.State.LastSeq; s++ {
		m, err := st.GetMsg(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		k, err := feed.KeyOf(m.Header)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.String())
	}
	return out
}

// A full window is stored in order, and the next window goes on from it.
func TestWindowStoresEveryChangeInOrder(t *testing.T) {
	js, st, subj := windowEnv(t)
	ctx := context.Background()
	w := feed.NewWindow(js, subj.ChangesStream())
	var want []string
	seq := uint64(0)
	for round := range 2 {
		for !w.Full() {
			seq++
			if err := w.Add(ctx, subj.ChangeLog("t"), changeAt(seq, "INSERT INTO t (id) VALUES (1)")); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%d.0", seq))
		}
		n, err := w.Settle(ctx)
		if err != nil || n != feed.MaxWindow {
			t.Fatalf("round %d: settled %d, %v; want %d stored", round, n, err, feed.MaxWindow)
		}
	}
	if got := keys(t, st); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the stream holds %d changes %v..., want %d", len(got), got[:min(len(got), 5)], len(want))
	}
	if n, err := w.Settle(ctx); n != 0 || err != nil {
		t.Fatalf("an empty window settled %d, %v", n, err)
	}
}

// A change refused in the middle of a window (here: too large for the
// stream) fails the window, and nothing after it is stored out of order:
// every later append expected a seq the stream never reached.
func TestWindowWithARefusedChangeFails(t *testing.T) {
	js, st, subj := windowEnv(t)
	ctx := context.Background()
	w := feed.NewWindow(js, subj.ChangesStream())
	for seq := uint64(1); seq <= 6; seq++ {
		stmt := "INSERT INTO t (id) VALUES (1)"
		if seq == 4 {
			stmt = "INSERT INTO t (id, v) VALUES (1, '" + strings.Repeat("x", 2048) + "')"
		}
		if err := w.Add(ctx, subj.ChangeLog("t"), changeAt(seq, stmt)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.Settle(ctx)
	if err == nil {
		t.Fatalf("the window settled %d changes with change 4 refused", n)
	}
	t.Logf("settle: %v", err)
	if got := keys(t, st); strings.Join(got, " ") != "1.0 2.0 3.0" {
		t.Fatalf("the stream holds %v, want the changes before the refused one", got)
	}
}

// A change published twice within a window (its key seen before: NATS
// drops it as a duplicate) fails the window too, though only the window's
// last change is acknowledged: each change after the duplicate expected
// a seq the stream never reached.
func TestWindowWithADuplicateFails(t *testing.T) {
	js, st, subj := windowEnv(t)
	ctx := context.Background()
	w := feed.NewWindow(js, subj.ChangesStream())
	for _, seq := range []uint64{1, 2, 2, 3, 4} {
		if err := w.Add(ctx, subj.ChangeLog("t"), changeAt(seq, "INSERT INTO t (id) VALUES (1)")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.Settle(ctx); err == nil {
		t.Fatalf("the window settled %d changes with change 2 twice", n)
	} else {
		t.Logf("settle: %v", err)
	}
	if got := keys(t, st); strings.Join(got, " ") != "1.0 2.0" {
		t.Fatalf("the stream holds %v, want the changes up to the duplicate", got)
	}
}

// BenchmarkWindow is the leader's publishing of the change feed, per
// change, in full windows, against an in-process nats-server (its CPU is
// counted too: the benchmark's time is the whole round trip).
func BenchmarkWindow(b *testing.B) {
	js := chorustest.JetStream(b)
	subj := messages.NewSubjects("windowbench")
	if _, err := js.CreateStream(context.Background(), feed.StreamConfig(subj, 1, 0)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	w := feed.NewWindow(js, subj.ChangesStream())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := w.Add(ctx, subj.ChangeLog("t"), changeAt(uint64(i+1), "UPDATE bench_list SET events = events + [42] WHERE id = 7")); err != nil {
			b.Fatal(err)
		}
		if w.Full() {
			if _, err := w.Settle(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := w.Settle(ctx); err != nil {
		b.Fatal(err)
	}
}
