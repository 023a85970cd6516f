package check

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

var subjects = messages.NewSubjects("db")

func good() messages.Forward {
	return messages.Forward{RequestID: "r1", Reply: "_INBOX.abc.1", Stmt: "INSERT INTO grade (id) VALUES (1)", Origin: "server0"}
}

func TestForwardAcceptsWhatWorkersSend(t *testing.T) {
	for _, f := range []messages.Forward{
		good(),
		{RequestID: "r2", Stmt: "UPDATE grade SET events = events + [1] WHERE id = 7", Origin: "server1", Consistency: messages.ConsistencyOne},
		{RequestID: "r3", Reply: "_INBOX.private.billing.x", Stmt: "CREATE TABLE t (id int PRIMARY KEY, at timestamp)", Origin: "s"},
		{RequestID: "r4", Reply: "_INBOX.x", Stmt: "INSERT INTO t (id, at) VALUES (1, toTimestamp(now()))", Origin: "s"},
		{RequestID: "r5", Reply: "_INBOX.x", Stmt: "BEGIN BATCH INSERT INTO t (id) VALUES (1); DELETE FROM t WHERE id = 2; APPLY BATCH", Origin: "s"},
	} {
		st, err := Forward(f, subjects, time.Now(), rand.Reader)
		if err != nil {
			t.Errorf("%+v: %v", f, err)
			continue
		}
		// What the leader learns: the statement as sent, and whether it
		// needs the rewrite.
		if st.Text != f.Stmt || !st.Kind.IsWrite() || st.Nondeterministic != strings.Contains(f.Stmt, "now()") {
			t.Errorf("%+v: statement %+v", f, st)
		}
	}
}

func TestForwardRejectsWhatNoWorkerSends(t *testing.T) {
	with := func(change func(*messages.Forward)) messages.Forward {
		f := good()
		change(&f)
		return f
	}
	for _, tc := range []struct {
		name string
		f    messages.Forward
		want error
	}{
		{"empty statement", with(func(f *messages.Forward) { f.Stmt = "" }), ErrEmpty},
		{"only a comment", with(func(f *messages.Forward) { f.Stmt = "-- nothing" }), cql.ErrEmpty},
		{"too large", with(func(f *messages.Forward) {
			f.Stmt = "INSERT INTO grade (id, events) VALUES (1, [" + strings.Repeat("1,", MaxStatementBytes/2) + "1])"
		}), ErrTooLarge},
		{"invalid UTF-8", with(func(f *messages.Forward) { f.Stmt = "INSERT INTO grade (id, n) VALUES (1, '\xff')" }), ErrEncoding},
		{"syntax", with(func(f *messages.Forward) { f.Stmt = "INSERT INTO grade (id VALUES 'x" }), cql.ErrSyntax},
		{"two statements", with(func(f *messages.Forward) { f.Stmt = "INSERT INTO a (id) VALUES (1); INSERT INTO b (id) VALUES (1)" }), cql.ErrMultiple},
		{"a read", with(func(f *messages.Forward) { f.Stmt = "SELECT * FROM grade" }), ErrNotWrite},
		{"a DESCRIBE", with(func(f *messages.Forward) { f.Stmt = "DESCRIBE TABLES" }), ErrNotWrite},
		{"other keyspace", with(func(f *messages.Forward) { f.Stmt = "INSERT INTO server1.grade (id) VALUES (1)" }), cql.ErrKeyspace},
		{"system keyspace", with(func(f *messages.Forward) { f.Stmt = "DELETE FROM system_auth.roles WHERE role = 'x'" }), cql.ErrKeyspace},
		{"USE", with(func(f *messages.Forward) { f.Stmt = "USE server1" }), cql.ErrUnsupported},
		{"keyspace DDL", with(func(f *messages.Forward) { f.Stmt = "DROP KEYSPACE server1" }), cql.ErrUnsupported},
		{"reserved table", with(func(f *messages.Forward) { f.Stmt = "DELETE FROM chorus_state WHERE id = 0" }), ErrReserved},
		{"reserved table, any case", with(func(f *messages.Forward) { f.Stmt = "TRUNCATE Chorus_Requests" }), ErrReserved},
		{"non-deterministic", with(func(f *messages.Forward) { f.Stmt = "INSERT INTO t (id, at) VALUES (1, 'now')" }), cql.ErrNondeterministic},
		{"no request id", with(func(f *messages.Forward) { f.RequestID = "" }), ErrForward},
		{"long request id", with(func(f *messages.Forward) { f.RequestID = strings.Repeat("x", MaxRequestIDBytes+1) }), ErrForward},
		{"request id not UTF-8", with(func(f *messages.Forward) { f.RequestID = "r\xff" }), ErrForward},
		{"bad origin", with(func(f *messages.Forward) { f.Origin = "a.b" }), ErrForward},
		{"no origin", with(func(f *messages.Forward) { f.Origin = "" }), ErrForward},
		{"unknown consistency", with(func(f *messages.Forward) { f.Consistency = 7 }), ErrForward},
		{"reply on the log", with(func(f *messages.Forward) { f.Reply = "db.order" }), ErrForward},
		{"reply on an internal subject", with(func(f *messages.Forward) { f.Reply = "db.leader.ack" }), ErrForward},
		{"reply on the JetStream API", with(func(f *messages.Forward) { f.Reply = "$JS.API.STREAM.DELETE.CHORUS_db" }), ErrForward},
		{"reply on a KV bucket", with(func(f *messages.Forward) { f.Reply = "$KV.CHORUS_db_LEASE.leader" }), ErrForward},
		{"wildcard reply", with(func(f *messages.Forward) { f.Reply = "_INBOX.>" }), ErrForward},
		{"reply with a space", with(func(f *messages.Forward) { f.Reply = "_INBOX.a b" }), ErrForward},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Forward(tc.f, subjects, time.Now(), rand.Reader)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStatementCodes(t *testing.T) {
	for _, tc := range []struct {
		stmt string
		max  int
		code messages.Code
	}{
		{"", 100, messages.CodeBadRequest},
		{"INSERT INTO t (id) VALUES (1)", 10, messages.CodeBadRequest},
		{"INSERT INTO other.t (id) VALUES (1)", 100, messages.CodeIsolation},
		{"SELECT * FROM chorus_state", 100, messages.CodeIsolation},
		{"DESCRIBE TABLE chorus_requests", 100, messages.CodeIsolation},
		{"SELECT * FROM system.local", 100, messages.CodeIsolation},
	} {
		_, err := Statement([]byte(tc.stmt), "ks", tc.max)
		if err == nil || Code(err) != tc.code {
			t.Errorf("%q: got %v (%s), want %s", tc.stmt, err, Code(err), tc.code)
		}
	}
	st, err := Statement([]byte("  SELECT * FROM ks.t ; "), "ks", 100)
	if err != nil || st.Text != "SELECT * FROM ks.t" || st.Kind.IsWrite() {
		t.Fatalf("got %+v, %v", st, err)
	}
	if _, err := Statement([]byte("SELECT 1 FROM t"), "ks", 1<<30); err != nil {
		t.Fatalf("a limit over MaxStatementBytes: %v", err)
	}
	if err := Deterministic(st, time.Now(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if Code(errors.New("x")) != messages.CodeBadRequest {
		t.Fatal("unknown errors are bad requests")
	}
}
