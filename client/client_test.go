package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// startNATS runs a real nats-server in process and returns its URL.
func startNATS(t *testing.T) string { return chorustest.NATS(t).ClientURL() }

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// request is what the test responder saw of one attempt.
type request struct {
	subject     string
	stmt        string
	id          string
	consistency string
}

// responder is a fake worker: answer decides the reply to the n-th request
// (from 1); a nil reply drops the request. Every request is also sent on
// seen, so a test can check what arrived.
type responder struct {
	mu   sync.Mutex
	n    int
	seen chan request
}

func respond(t *testing.T, url, subject string, answer func(n int, r request) []byte) *responder {
	t.Helper()
	nc := connect(t, url)
	rs := &responder{seen: make(chan request, 100)}
	_, err := nc.QueueSubscribe(subject, messages.QueueGroup, func(m *nats.Msg) {
		r := request{
			subject:     m.Subject,
			stmt:        string(m.Data),
			id:          m.Header.Get(messages.HeaderRequestID),
			consistency: m.Header.Get(messages.HeaderConsistency),
		}
		rs.mu.Lock()
		rs.n++
		n := rs.n
		rs.mu.Unlock()
		rs.seen <- r
		if out := answer(n, r); out != nil {
			if err := m.Respond(out); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the subscription is on the server
		t.Fatal(err)
	}
	return rs
}

func (rs *responder) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.n
}

// requests drains what the responder has seen so far.
func (rs *responder) requests() []request {
	var out []request
	for {
		select {
		case r := <-rs.seen:
			out = append(out, r)
		default:
			return out
		}
	}
}

func always(b []byte) func(int, request) []byte {
	return func(int, request) []byte { return b }
}

func newClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestExecSuccess(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", always(messages.WriteSuccess(42, "server1", "").Encode()))
	c := newClient(t, url)

	res, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	reqs := rs.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.stmt != "INSERT INTO t (a) VALUES (1)" || r.id == "" || r.consistency != "" {
		t.Fatalf("request %+v", r)
	}
	if res.Seq != 42 || res.Server != "server1" || res.RequestID != r.id {
		t.Fatalf("result %+v, request id sent %q", res, r.id)
	}

	// Each Exec gets a fresh id.
	res2, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (2)")
	if err != nil {
		t.Fatal(err)
	}
	if res2.RequestID == res.RequestID {
		t.Fatalf("two writes share request id %s", res.RequestID)
	}
}

func TestExecRetriesDroppedAttemptWithSameRequestID(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", func(n int, r request) []byte {
		if n == 1 {
			return nil // lost: the client must try again
		}
		return messages.WriteSuccess(7, "server2", r.id).Encode()
	})
	c := newClient(t, url, WithAttemptTimeout(100*time.Millisecond), WithTimeout(20*time.Second))

	res, err := c.Exec(context.Background(), "UPDATE t SET a = 1 WHERE k = 1")
	if err != nil {
		t.Fatal(err)
	}
	reqs := rs.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d requests, want a retry", len(reqs))
	}
	for _, r := range reqs {
		if r.id != reqs[0].id || r.stmt != reqs[0].stmt {
			t.Fatalf("retry changed the request: %+v vs %+v", r, reqs[0])
		}
	}
	if res.Seq != 7 || res.RequestID != reqs[0].id {
		t.Fatalf("result %+v", res)
	}
}

func TestExecRetriesUnavailable(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", func(n int, r request) []byte {
		if n == 1 {
			return messages.Failure(messages.CodeUnavailable, "no leader", "server0", r.id).Encode()
		}
		return messages.WriteSuccess(9, "server0", r.id).Encode()
	})
	c := newClient(t, url)

	res, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)", WithRequestID("req-1"))
	if err != nil {
		t.Fatal(err)
	}
	reqs := rs.requests()
	if len(reqs) != 2 || reqs[0].id != "req-1" || reqs[1].id != "req-1" {
		t.Fatalf("requests %+v", reqs)
	}
	if res.Seq != 9 || res.RequestID != "req-1" {
		t.Fatalf("result %+v", res)
	}
}

func TestExecErrorIsFinal(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", func(_ int, r request) []byte {
		return messages.Failure(messages.CodeCQL, "unconfigured table nope", "server1", r.id).Encode()
	})
	c := newClient(t, url, WithAttemptTimeout(100*time.Millisecond))

	res, err := c.Exec(context.Background(), "INSERT INTO nope (a) VALUES (1)")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if ce.Code != messages.CodeCQL || ce.Message != "unconfigured table nope" || ce.Server != "server1" || ce.RequestID != res.RequestID {
		t.Fatalf("error %+v, result %+v", ce, res)
	}
	if got := err.Error(); got != "chorus: CQL: unconfigured table nope (server1)" {
		t.Fatalf("error text %q", got)
	}
	// Exec returned after the reply to its last attempt, so a retry would
	// already be counted.
	if n := rs.count(); n != 1 {
		t.Fatalf("%d requests for a final error, want 1", n)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Code: messages.CodeIsolation, Message: "keyspace system"}
	if e.Error() != "chorus: ISOLATION: keyspace system" {
		t.Fatal(e.Error())
	}
}

func TestGarbageReply(t *testing.T) {
	for name, garbage := range map[string]string{"not json": "<html>oops</html>", "bad status": `{"status":"MAYBE"}`} {
		t.Run(name, func(t *testing.T) {
			url := startNATS(t)
			rs := respond(t, url, "db.request", always([]byte(garbage)))
			c := newClient(t, url)
			_, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)")
			if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "db.request") {
				t.Fatalf("err = %v, want ErrBadReply naming the subject", err)
			}
			_, err = c.Query(context.Background(), "SELECT a FROM t")
			if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "db.request") {
				t.Fatalf("query err = %v", err)
			}
			if n := rs.count(); n != 2 {
				t.Fatalf("%d requests, want 2 (no retry on a bad reply)", n)
			}
		})
	}
}

func TestEmptyStatementIsNotSent(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.>", always(messages.WriteSuccess(1, "s", "").Encode()))
	c := newClient(t, url)
	if _, err := c.Exec(context.Background(), "  \n\t"); !errors.Is(err, ErrEmptyStatement) {
		t.Fatalf("exec: %v", err)
	}
	if _, err := c.Query(context.Background(), ""); !errors.Is(err, ErrEmptyStatement) {
		t.Fatalf("query: %v", err)
	}
	// A request sent before this one would have been answered first.
	if _, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if n := rs.count(); n != 1 {
		t.Fatalf("%d requests reached the worker, want only the non-empty one", n)
	}
}

func TestExecTimeout(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", always(nil)) // never answers
	c := newClient(t, url, WithAttemptTimeout(50*time.Millisecond), WithTimeout(300*time.Millisecond))

	res, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if errors.Is(err, ErrNoWorkers) {
		t.Fatalf("err = %v: a worker received it", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "may or may not have been applied") || !strings.Contains(msg, res.RequestID) || res.RequestID == "" {
		t.Fatalf("timeout error %q does not name request id %q", msg, res.RequestID)
	}
	reqs := rs.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d attempts, want retries", len(reqs))
	}
	for _, r := range reqs {
		if r.id != res.RequestID {
			t.Fatalf("attempt with id %q, want %q", r.id, res.RequestID)
		}
	}
}

func TestRetryOff(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", func(n int, r request) []byte {
		if n == 1 {
			return nil
		}
		return messages.Failure(messages.CodeUnavailable, "no leader", "server0", r.id).Encode()
	})
	c := newClient(t, url, WithRetry(false), WithAttemptTimeout(50*time.Millisecond))

	if _, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("dropped attempt: err = %v, want ErrTimeout", err)
	}
	_, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)")
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != messages.CodeUnavailable {
		t.Fatalf("unavailable without retry: err = %v", err)
	}
	if n := rs.count(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestNoWorkers(t *testing.T) {
	url := startNATS(t)
	c := newClient(t, url)

	_, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)", WithRetry(false))
	if !errors.Is(err, ErrNoWorkers) || !errors.Is(err, nats.ErrNoResponders) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrNoWorkers", err)
	}
	if !strings.Contains(err.Error(), "was not applied") {
		t.Fatalf("err = %v", err)
	}

	_, err = c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)", WithTimeout(200*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrNoWorkers) {
		t.Fatalf("err = %v, want ErrTimeout and ErrNoWorkers", err)
	}

	_, err = c.Query(context.Background(), "SELECT a FROM t", WithServer("server9"), WithRetry(false))
	if !errors.Is(err, ErrNoWorkers) || !strings.Contains(err.Error(), "db.request.server9") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecWaitsForAWorker(t *testing.T) {
	url := startNATS(t)
	c := newClient(t, url, WithAttemptTimeout(time.Second))
	var rs *responder
	c.onAttempt = func(n int, err error) {
		// The first attempt finds no worker; one starts before the retry.
		if n == 1 {
			if !errors.Is(err, nats.ErrNoResponders) {
				t.Errorf("first attempt: %v, want no responders", err)
			}
			rs = respond(t, url, "db.request", func(_ int, r request) []byte {
				return messages.WriteSuccess(3, "server1", r.id).Encode()
			})
		}
	}
	res, err := c.Exec(context.Background(), "INSERT INTO t (a) VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 3 || rs.count() != 1 {
		t.Fatalf("result %+v after %d requests", res, rs.count())
	}
}

func TestCallerDeadlineWins(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "db.request", always(nil))
	c := newClient(t, url, WithAttemptTimeout(50*time.Millisecond)) // default overall: 30s
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Exec(ctx, "INSERT INTO t (a) VALUES (1)")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "may or may not") {
		t.Fatalf("err = %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.Query(ctx, "SELECT a FROM t")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestOptionsReachTheWire(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "prod.db.request.server7", func(_ int, r request) []byte {
		return messages.WriteSuccess(5, "server7", r.id).Encode()
	})
	c := newClient(t, url, WithPrefix("prod.db"))

	var raw []byte
	res, err := c.Exec(context.Background(), "DELETE FROM t WHERE k = 1",
		WithServer("server7"), WithRequestID("mine"), WithConsistency(messages.ConsistencyOne), WithRawReply(&raw))
	if err != nil {
		t.Fatal(err)
	}
	r := <-rs.seen
	if r.subject != "prod.db.request.server7" || r.id != "mine" || r.consistency != "one" {
		t.Fatalf("request %+v", r)
	}
	if res.RequestID != "mine" || res.Server != "server7" {
		t.Fatalf("result %+v", res)
	}
	if string(raw) != `{"status":"SUCCESS","seq":5,"server":"server7","request_id":"mine"}` {
		t.Fatalf("raw reply %s", raw)
	}
	if _, err := c.Exec(context.Background(), "x", WithServer("a.b")); err == nil || !strings.Contains(err.Error(), "server id") {
		t.Fatalf("bad server id: %v", err)
	}
}

func TestQuery(t *testing.T) {
	url := startNATS(t)
	rows := []byte(`[{"id":9007199254740993,"events":[1,2],"name":"ann"},{"id":8,"events":null,"name":null}]`)
	rs := respond(t, url, "db.request", always(messages.ReadSuccess([]string{"id", "events", "name"}, rows, "server2").Encode()))
	c := newClient(t, url)

	got, err := c.Query(context.Background(), "SELECT id, events, name FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Columns, ",") != "id,events,name" || got.Server != "server2" || len(got.Rows) != 2 {
		t.Fatalf("rows %+v", got)
	}
	if id := got.Rows[0]["id"]; id != json.Number("9007199254740993") {
		t.Fatalf("big int %#v lost precision", id)
	}
	if ev, ok := got.Rows[0]["events"].([]any); !ok || len(ev) != 2 || ev[1] != json.Number("2") {
		t.Fatalf("events %#v", got.Rows[0]["events"])
	}
	if got.Rows[1]["name"] != nil {
		t.Fatalf("null %#v", got.Rows[1]["name"])
	}
	if r := <-rs.seen; r.id != "" {
		t.Fatalf("query sent request id %q without WithRequestID", r.id)
	}
}

func TestQueryDoesNotRetryErrors(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", always(messages.Failure(messages.CodeUnavailable, "catching up", "server2", "").Encode()))
	c := newClient(t, url)
	_, err := c.Query(context.Background(), "SELECT a FROM t")
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != messages.CodeUnavailable || ce.Server != "server2" {
		t.Fatalf("err = %v", err)
	}
	if n := rs.count(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestQueryRetriesDroppedAttempt(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", func(n int, _ request) []byte {
		if n == 1 {
			return nil
		}
		return messages.ReadSuccess([]string{"a"}, []byte(`[{"a":1}]`), "server1").Encode()
	})
	c := newClient(t, url, WithAttemptTimeout(100*time.Millisecond))
	got, err := c.Query(context.Background(), "SELECT a FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 1 || rs.count() < 2 {
		t.Fatalf("rows %+v after %d requests", got, rs.count())
	}
}

func TestStatus(t *testing.T) {
	url := startNATS(t)
	c := newClient(t, url)

	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("no leader: err = %v", err)
	}

	want := messages.Status{Leader: "server0", Epoch: 3, LastSeq: 42, Committed: 41, Workers: []messages.StatusWorker{
		{ID: "server0", Live: true, Applied: 42, LastSeen: "2026-01-02T03:04:05Z"},
		{ID: "server1", Live: false, Applied: 40, Lag: 2, Stalled: "cassandra down"},
	}}
	b, _ := json.Marshal(want)
	respond(t, url, "db.status", always(b))
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != "server0" || st.Epoch != 3 || st.LastSeq != 42 || st.Committed != 41 || len(st.Workers) != 2 || st.Workers[1].Stalled != "cassandra down" {
		t.Fatalf("status %+v", st)
	}
}

func TestStatusBadReply(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "x.status", always([]byte("nope")))
	c := newClient(t, url, WithPrefix("x"))
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "x.status") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewDoesNotCloseConn(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	c := New(nc)
	c.Close()
	if nc.IsClosed() {
		t.Fatal("Close closed a connection the client does not own")
	}
	c2 := newClient(t, url)
	c2.Close()
	if !c2.nc.IsClosed() {
		t.Fatal("Close left its own connection open")
	}
}

func TestConnectFails(t *testing.T) {
	// A port nothing listens on: a server that has shut down.
	dead := chorustest.DeadURL(t)
	if _, err := Connect(dead); err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("err = %v", err)
	}
}

func TestQueryReadConsistency(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.request", always(messages.ReadSuccessAt([]string{"a"}, []byte(`[{"a":1}]`), "server1", 42).Encode()))
	c := newClient(t, url)
	got, err := c.Query(context.Background(), "SELECT a FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 42 {
		t.Fatalf("rows reflect seq %d, want 42", got.Seq)
	}
	if r := <-rs.seen; r.consistency != "" {
		t.Fatalf("a default query sent %s %q", messages.HeaderConsistency, r.consistency)
	}
	if _, err := c.Query(context.Background(), "SELECT a FROM t", WithReadConsistency(messages.ReadConsistency{})); err != nil {
		t.Fatal(err)
	}
	if r := <-rs.seen; r.consistency != "" {
		t.Fatalf("a local query sent %s %q: it is the default", messages.HeaderConsistency, r.consistency)
	}
	for _, level := range []string{"linearizable", "min_seq:7", "bounded:1.5s"} {
		rc, err := messages.ParseReadConsistency(level)
		if err != nil {
			t.Fatal(err)
		}
		// Set on the client (a default) and overridden per call alike.
		for _, cl := range []*Client{newClient(t, url, WithReadConsistency(rc)), c} {
			if _, err := cl.Query(context.Background(), "SELECT a FROM t", WithReadConsistency(rc)); err != nil {
				t.Fatal(err)
			}
			if r := <-rs.seen; r.consistency != level {
				t.Fatalf("sent %s %q, want %q", messages.HeaderConsistency, r.consistency, level)
			}
		}
	}
}
