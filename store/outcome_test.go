package store_test

import (
	"context"
	"testing"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

func TestMemoryOutcomeReadsTheRecord(t *testing.T) {
	m := store.NewMemory()
	mustApply(t, m, order(1, "a", "b"))
	ctx := context.Background()
	got, ok, err := m.Outcome(ctx, "b", 1, 1)
	if err != nil || !ok || got != (messages.Outcome{Seq: 1, Index: 1}) {
		t.Fatalf("outcome of b: %+v %v %v", got, ok, err)
	}
	if _, ok, err := m.Outcome(ctx, "nobody", 1, 0); ok || err != nil {
		t.Fatalf("outcome of an unknown id: %v %v", ok, err)
	}
	if _, ok, err := (store.Noop{}).Outcome(ctx, "a", 1, 0); ok || err != nil {
		t.Fatalf("noop: %v %v", ok, err)
	}
}
