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
	if _, admitted := n.admitForward(m, &ok); !admitted {
		t.Fatal("a worker's FORWARD was dropped")
	}
	bad := ok
	bad.Stmt = "DROP KEYSPACE server1"
	if _, admitted := n.admitForward(m, &bad); admitted {
		t.Fatal("a forged FORWARD was admitted")
	}
	if got := n.Stats().Rejected; got != 1 {
		t.Fatalf("Garbage = %d, want 1", got)
	}
}

// Only a statement the leader's own check found free of calls to rewrite,
// and exactly as sent, is ordered without the rewrite: a FORWARD cannot
// claim it.
func TestAdmissionPlainOnlyWhatNeedsNoRewrite(t *testing.T) {
	n := NewNode(nil, nil, nil, Config{ID: "server0", Subjects: messages.NewSubjects("db"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m := &nats.Msg{Subject: "db.leader.forward"}
	for stmt, plain := range map[string]bool{
		"UPDATE t SET a = 1 WHERE id = 1":                                   true,
		"INSERT INTO t (id, at) VALUES (1, now())":                          false,
		"INSERT INTO t (id, at) VALUES (1, toTimestamp(system.now())) -- x": false,
		" UPDATE t SET a = 1 WHERE id = 1;":                                 false, // not as Parse reads it: rewritten as before
		"UPDATE t SET a = 1 WHERE id = 1 -- now()":                          false,
		"BEGIN BATCH UPDATE t SET u = uuid() WHERE id = 1 APPLY BATCH":      false,
		"INSERT INTO t (id, note) VALUES (1, 'no call: now() in a string')": true,
	} {
		f := messages.Forward{RequestID: "r", Reply: "_INBOX.x", Stmt: stmt, Origin: "server1"}
		adm, ok := n.admitForward(m, &f)
		if !ok || adm.Plain != plain {
			t.Errorf("%q: admitted %v, %+v; want Plain %v", stmt, ok, adm, plain)
		}
	}
}
