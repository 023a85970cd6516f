package leader

import (
	"io"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

func TestAdmitForwardDropsAndCounts(t *testing.T) {
	n := NewNode(nil, nil, nil, Config{ID: "server0", Subjects: messages.NewSubjects("db"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m := &nats.Msg{Subject: "db.leader.forward"}
	ok := messages.Forward{RequestID: "r", Reply: "_INBOX.x", Stmt: "INSERT INTO t (id) VALUES (1)", Origin: "server1"}
	if !n.admitForward(m, &ok) {
		t.Fatal("a worker's FORWARD was dropped")
	}
	bad := ok
	bad.Stmt = "DROP KEYSPACE server1"
	if n.admitForward(m, &bad) {
		t.Fatal("a forged FORWARD was admitted")
	}
	if got := n.Stats().Rejected; got != 1 {
		t.Fatalf("Garbage = %d, want 1", got)
	}
}
