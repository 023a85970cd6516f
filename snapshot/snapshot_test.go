package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/snapshot"
)

func open(t *testing.T, keep int) *snapshot.Store {
	t.Helper()
	js := chorustest.JetStream(t)
	s, err := snapshot.Open(context.Background(), js, "CHORUS_T_SNAPSHOTS", 1, keep, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// failingReader yields some data, then fails: a snapshot whose export
// broke off.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("export failed")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestKeepsTheNewestCompleteSnapshots(t *testing.T) {
	ctx := context.Background()
	s := open(t, 2)
	if _, err := s.Latest(ctx); !errors.Is(err, snapshot.ErrNone) {
		t.Fatalf("empty bucket: %v, want ErrNone", err)
	}
	for _, seq := range []uint64{10, 20, 30} {
		data := bytes.Repeat([]byte{byte(seq)}, 300<<10) // several chunks
		m, err := s.Put(ctx, snapshot.Manifest{Seq: seq, Epoch: 2, By: "s1", At: time.Now(), Rows: 7,
			Members: []messages.Member{{ID: "s1", Gen: "g1"}}}, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if m.Bytes != int64(len(data)) || !strings.HasPrefix(m.Digest, "SHA-256=") {
			t.Fatalf("manifest %+v", m)
		}
	}
	// A snapshot whose data broke off is never listed.
	if _, err := s.Put(ctx, snapshot.Manifest{Seq: 40, By: "s2"}, &failingReader{n: 200 << 10}); err == nil {
		t.Fatal("a put from a failing reader succeeded")
	}
	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Seq != 20 || all[1].Seq != 30 || all[1].Members[0].Gen != "g1" {
		t.Fatalf("list %+v, want seqs 20 and 30", all)
	}
	m, err := s.Latest(ctx)
	if err != nil || m.Seq != 30 {
		t.Fatalf("latest %+v %v", m, err)
	}
	r, err := s.Read(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || len(got) != 300<<10 || got[0] != 30 {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}

// A reader slower than JetStream's default API timeout (a restore writes
// every record before it reads on) still reads the whole snapshot.
func TestSlowReaderReadsItAll(t *testing.T) {
	ctx := context.Background()
	srv := chorustest.NATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const apiTimeout = 200 * time.Millisecond
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(apiTimeout))
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(ctx, js, "CHORUS_T_SNAPSHOTS", 1, 1, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB: several chunks
	m, err := s.Put(ctx, snapshot.Manifest{Seq: 5, Epoch: 1, By: "s1", At: time.Now()}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(data), err)
		}
		if len(got) == 64<<10 {
			time.Sleep(3 * apiTimeout) // the slow reader under test, not a wait for anything
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want the %d put", len(got), len(data))
	}
}
