package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// startNATS runs a real nats-server in process and returns its URL.
func startNATS(t *testing.T) string { return chorustest.NATS(t).ClientURL() }

// request is what the fake worker received.
type request struct {
	subject, stmt, id, consistency string
}

// respond subscribes a fake worker on subject that answers every request
// with answer(request) (nil: no answer) and reports each request on the
// returned channel.
func respond(t *testing.T, url, subject string, answer func(request) []byte) <-chan request {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return respondOn(t, nc, subject, answer)
}

// respondOn is respond on an open connection (one with credentials).
func respondOn(t *testing.T, nc *nats.Conn, subject string, answer func(request) []byte) <-chan request {
	t.Helper()
	seen := make(chan request, 100)
	var err error
	_, err = nc.QueueSubscribe(subject, messages.QueueGroup, func(m *nats.Msg) {
		r := request{m.Subject, string(m.Data), m.Header.Get(messages.HeaderRequestID), m.Header.Get(messages.HeaderConsistency)}
		seen <- r
		if out := answer(r); out != nil {
			m.Respond(out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return seen
}

func reply(b []byte) func(request) []byte { return func(request) []byte { return b } }

type result struct {
	code           int
	stdout, stderr string
}

// chorus runs the command with args, env vars from vars and stdin.
func chorus(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string { return vars[k] },
	}
	code := run(e, args)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func TestExecReadable(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request", reply(messages.WriteSuccess(42, "server1", "").Encode()))

	r := chorus(t, nil, "", "--nats", url, "exec", "INSERT", "INTO t (a)", "VALUES (1)")
	r.want(t, 0)
	if r.stdout != "SUCCESS seq=42 server=server1\n" || r.stderr != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	req := <-seen
	if req.stmt != "INSERT INTO t (a) VALUES (1)" || req.id == "" || req.consistency != "all" {
		t.Fatalf("request %+v", req)
	}
}

func TestExecFlagsAndEnv(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "prod.request.server3", func(r request) []byte {
		return messages.WriteSuccess(7, "server3", r.id).Encode()
	})
	vars := map[string]string{"CHORUS_NATS_URL": url, "CHORUS_SUBJECT_PREFIX": "prod"}

	r := chorus(t, vars, "", "exec", "--server", "server3", "--request-id", "job-42", "--consistency", "one", "--timeout", "5s",
		"DELETE FROM t WHERE k = -1")
	r.want(t, 0)
	if r.stdout != "SUCCESS seq=7 server=server3\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	req := <-seen
	if req.subject != "prod.request.server3" || req.id != "job-42" || req.consistency != "one" || req.stmt != "DELETE FROM t WHERE k = -1" {
		t.Fatalf("request %+v", req)
	}

	// Flags override the environment, before or after the command.
	r = chorus(t, map[string]string{"CHORUS_NATS_URL": "nats://127.0.0.1:1", "CHORUS_SUBJECT_PREFIX": "nope"}, "",
		"--nats", url, "exec", "--prefix", "prod", "--server", "server3", "TRUNCATE t")
	r.want(t, 0)
}

func TestExecJSON(t *testing.T) {
	url := startNATS(t)
	raw := `{"status":"SUCCESS","seq":42,"server":"server1","request_id":"x"}`
	respond(t, url, "db.request", reply([]byte(raw)))
	r := chorus(t, nil, "", "--nats", url, "exec", "--json", "TRUNCATE t")
	r.want(t, 0)
	if r.stdout != raw+"\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestExecStdin(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request", reply(messages.WriteSuccess(1, "server0", "").Encode()))
	r := chorus(t, nil, "BEGIN BATCH\n  INSERT INTO t (a) VALUES (1);\nAPPLY BATCH\n", "--nats", url, "exec", "-")
	r.want(t, 0)
	if req := <-seen; req.stmt != "BEGIN BATCH\n  INSERT INTO t (a) VALUES (1);\nAPPLY BATCH" {
		t.Fatalf("statement %q", req.stmt)
	}
}

func TestExecError(t *testing.T) {
	url := startNATS(t)
	fail := messages.Failure(messages.CodeCQL, "unconfigured table t", "server1", "r1").Encode()
	seen := respond(t, url, "db.request", reply(fail))

	r := chorus(t, nil, "", "--nats", url, "exec", "INSERT INTO t (a) VALUES (1)")
	r.want(t, 1)
	if r.stderr != "ERROR CQL: unconfigured table t (server1)\n" || r.stdout != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	<-seen
	select {
	case req := <-seen:
		t.Fatalf("an ERROR reply was retried: %+v", req)
	default:
	}

	r = chorus(t, nil, "", "--nats", url, "exec", "--json", "INSERT INTO t (a) VALUES (1)")
	r.want(t, 1)
	if r.stdout != string(fail)+"\n" || r.stderr != "" {
		t.Fatalf("--json: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestExecTimeoutNamesRequestID(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request", reply(nil))
	r := chorus(t, nil, "", "--nats", url, "exec", "--timeout", "200ms", "INSERT INTO t (a) VALUES (1)")
	r.want(t, 1)
	req := <-seen
	if !strings.Contains(r.stderr, "may or may not have been applied") || !strings.Contains(r.stderr, "--request-id "+req.id) {
		t.Fatalf("stderr %q does not name request id %s", r.stderr, req.id)
	}
}

func TestBadReply(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "db.request", reply([]byte("oops")))
	r := chorus(t, nil, "", "--nats", url, "query", "SELECT a FROM t")
	r.want(t, 1)
	if !strings.Contains(r.stderr, "db.request") || !strings.Contains(r.stderr, "oops") {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = chorus(t, nil, "", "--nats", url, "query", "--json", "SELECT a FROM t")
	r.want(t, 1)
	if r.stdout != "oops\n" || !strings.Contains(r.stderr, "not a Chorus reply") {
		t.Fatalf("--json: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

const rowsJSON = `[{"id":9007199254740993,"events":[1,2],"name":"ann"},{"id":8,"events":null,"name":"a\tb"}]`

func TestQueryTable(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request.server2", reply(messages.ReadSuccess([]string{"id", "events", "name"}, []byte(rowsJSON), "server2").Encode()))

	r := chorus(t, nil, "", "--nats", url, "query", "--server", "server2", "SELECT", "id,", "events,", "name", "FROM", "t")
	r.want(t, 0)
	want := "" +
		"id                events  name\n" +
		"9007199254740993  [1,2]   ann\n" +
		"8                 null    \"a\\tb\"\n" +
		"(2 rows, server2)\n"
	if r.stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if req := <-seen; req.stmt != "SELECT id, events, name FROM t" {
		t.Fatalf("statement %q", req.stmt)
	}
}

func TestQueryConsistency(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request", reply(messages.ReadSuccessAt([]string{"id"}, []byte(`[{"id":1}]`), "server1", 42).Encode()))
	for _, level := range []string{"linearizable", "min_seq:40", "bounded:1s"} {
		r := chorus(t, nil, "", "--nats", url, "query", "--consistency", level, "SELECT id FROM t")
		r.want(t, 0)
		if r.stdout != "id\n1\n(1 row, server1 at seq 42)\n" {
			t.Fatalf("stdout %q", r.stdout)
		}
		if req := <-seen; req.consistency != level {
			t.Fatalf("sent consistency %q, want %q", req.consistency, level)
		}
	}
	chorus(t, nil, "", "--nats", url, "query", "SELECT id FROM t").want(t, 0)
	if req := <-seen; req.consistency != "" {
		t.Fatalf("a default query sent consistency %q", req.consistency)
	}
}

func TestQueryJSONAndEmpty(t *testing.T) {
	url := startNATS(t)
	raw := messages.ReadSuccess([]string{"id", "events", "name"}, []byte(rowsJSON), "server2").Encode()
	respond(t, url, "db.request", reply(raw))
	r := chorus(t, nil, "", "--nats", url, "query", "--json", "SELECT * FROM t")
	r.want(t, 0)
	if r.stdout != string(raw)+"\n" {
		t.Fatalf("stdout %q", r.stdout)
	}

	url2 := startNATS(t)
	respond(t, url2, "db.request", reply(messages.ReadSuccess([]string{"id", "events"}, nil, "server1").Encode()))
	r = chorus(t, nil, "", "--nats", url2, "query", "SELECT id, events FROM t WHERE id = 0")
	r.want(t, 0)
	if r.stdout != "id  events\n(0 rows, server1)\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestQueryError(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "db.request", reply(messages.Failure(messages.CodeIsolation, "keyspace system is not yours", "server0", "").Encode()))
	r := chorus(t, nil, "", "--nats", url, "query", "SELECT * FROM system.local")
	r.want(t, 1)
	if r.stderr != "ERROR ISOLATION: keyspace system is not yours (server0)\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestStatus(t *testing.T) {
	url := startNATS(t)
	st := messages.Status{Leader: "server0", Epoch: 3, LastSeq: 42, Committed: 41, Workers: []messages.StatusWorker{
		{ID: "server0", Live: true, Applied: 42, LastSeen: "2026-01-02T03:04:05Z"},
		{ID: "server12", Live: false, Applied: 40, Lag: 2, Stalled: "cassandra unreachable"},
	}}
	raw, _ := json.Marshal(st)
	respond(t, url, "db.status", reply(raw))

	r := chorus(t, nil, "", "--nats", url, "status")
	r.want(t, 0)
	want := "" +
		"leader:        server0\n" +
		"epoch:         3\n" +
		"first seq:     0\n" +
		"last seq:      42\n" +
		"committed:     41\n" +
		"snapshot seq:  none\n" +
		"\n" +
		"WORKER    STATE  APPLIED  LAG  LAST SEEN             STALLED\n" +
		"server0   live   42       0    2026-01-02T03:04:05Z\n" +
		"server12  out    40       2    -                     cassandra unreachable\n"
	if r.stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = chorus(t, nil, "", "--nats", url, "status", "--json")
	r.want(t, 0)
	if r.stdout != string(raw)+"\n" {
		t.Fatalf("--json: %q", r.stdout)
	}
}

func TestStatusNoLeader(t *testing.T) {
	url := startNATS(t)
	r := chorus(t, nil, "", "--nats", url, "status")
	r.want(t, 1)
	if !strings.Contains(r.stderr, "no leader") || !strings.Contains(r.stderr, "db.status") || r.stdout != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestNoNATS(t *testing.T) {
	// A server that has shut down: nothing listens on its port.
	url := chorustest.DeadURL(t)

	r := chorus(t, map[string]string{"CHORUS_NATS_URL": url}, "", "exec", "TRUNCATE t")
	r.want(t, 1)
	if !strings.Contains(r.stderr, url) {
		t.Fatalf("stderr %q does not name %s", r.stderr, url)
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substrings expected
		stderr string
	}{
		{"no command", nil, 2, "", "usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, "examples:", ""},
		{"-h", []string{"-h"}, 0, "commands:", ""},
		{"--help", []string{"--help"}, 0, "chorus query -", ""},
		{"help exec", []string{"help", "exec"}, 0, "--request-id", ""},
		{"help unknown", []string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{"exec -h", []string{"exec", "-h"}, 0, "--consistency", ""},
		{"status -h", []string{"status", "-h"}, 0, "--json", ""},
		{"bad global flag", []string{"--frob", "status"}, 2, "", "flag provided but not defined"},
		{"bad flag", []string{"query", "--frob", "SELECT 1"}, 2, "", "flag provided but not defined"},
		{"no statement", []string{"exec"}, 2, "", "no statement given"},
		{"blank statement", []string{"query", "  "}, 2, "", "no statement given"},
		{"bad consistency", []string{"exec", "--consistency", "quorum", "TRUNCATE t"}, 2, "", "all or one"},
		{"bad timeout", []string{"query", "--timeout", "0s", "SELECT 1"}, 2, "", "--timeout"},
		{"bad read consistency", []string{"query", "--consistency", "all", "SELECT 1"}, 2, "", "linearizable, min_seq:<seq>"},
		{"query -h", []string{"query", "-h"}, 0, "bounded:<duration>", ""},
		{"status args", []string{"status", "now"}, 2, "", "unexpected arguments"},
		{"bad prefix", []string{"--prefix", "a b", "status"}, 2, "", "invalid subject prefix"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := chorus(t, nil, "", c.args...)
			r.want(t, c.code)
			if !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant %q / %q", r.stdout, r.stderr, c.stdout, c.stderr)
			}
		})
	}
}

func TestExecEmptyStdin(t *testing.T) {
	r := chorus(t, nil, "\n  \n", "exec", "-")
	r.want(t, 2)
}
