package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

func TestDropLog(t *testing.T) {
	nc, err := nats.Connect(chorustest.NATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for _, prefix := range []string{"bench_a", "bench_b"} {
		sub := messages.NewSubjects(prefix)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sub.StreamName(), Subjects: []string{sub.Order()}}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sub.ChangesStream(), Subjects: []string{sub.ChangesAll()}}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: sub.LeaseBucket()}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: sub.SnapshotBucket()}); err != nil {
			t.Fatal(err)
		}
	}

	deleted, err := DropLog(ctx, nc, "bench_a")
	if want := []string{"stream CHORUS_bench_a", "stream CHORUS_bench_a_CHANGES", "bucket CHORUS_bench_a_LEASE", "object store CHORUS_bench_a_SNAPSHOTS"}; err != nil || !slices.Equal(deleted, want) {
		t.Fatalf("deleted %q, %v", deleted, err)
	}
	if deleted, err := DropLog(ctx, nc, "bench_a"); err != nil || len(deleted) != 0 {
		t.Fatalf("again: deleted %q, %v", deleted, err)
	}
	// The other cluster's log is untouched.
	if _, err := js.Stream(ctx, "CHORUS_bench_b"); err != nil {
		t.Fatalf("bench_b's stream: %v", err)
	}
	if _, err := js.KeyValue(ctx, "CHORUS_bench_b_LEASE"); err != nil {
		t.Fatalf("bench_b's bucket: %v", err)
	}
	if _, err := js.Stream(ctx, "CHORUS_bench_b_CHANGES"); err != nil {
		t.Fatalf("bench_b's changes: %v", err)
	}
	if _, err := js.ObjectStore(ctx, "CHORUS_bench_b_SNAPSHOTS"); err != nil {
		t.Fatalf("bench_b's snapshots: %v", err)
	}
}

func TestValidKeyspace(t *testing.T) {
	for ks, ok := range map[string]bool{"chorus_bench": true, "b1": true, "System_x": false, "system": false, "1abc": false, "a-b": false, `a"b`: false, "": false} {
		if err := ValidKeyspace(ks); (err == nil) != ok {
			t.Errorf("ValidKeyspace(%q) = %v", ks, err)
		}
	}
	if err := DropKeyspaces(context.Background(), nil, time.Second, []string{"system_auth"}); err == nil {
		t.Fatal("DropKeyspaces accepted a system keyspace")
	}
}
