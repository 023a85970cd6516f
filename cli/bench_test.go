package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/messages"
)

// fakeCluster answers every write on prefix.request with SUCCESS and the
// status request with three live workers; it returns the statements seen.
func fakeCluster(t *testing.T, url, prefix string) func() []string {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	var stmts []string
	var seq uint64
	if _, err := nc.QueueSubscribe(prefix+".request", messages.QueueGroup, func(m *nats.Msg) {
		mu.Lock()
		stmts = append(stmts, string(m.Data))
		seq++
		n := seq
		mu.Unlock()
		m.Respond(messages.WriteSuccess(n, "server1", m.Header.Get(messages.HeaderRequestID)).Encode())
	}); err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(messages.Status{Leader: "server1", Epoch: 1, Workers: []messages.StatusWorker{
		{ID: "server0", Live: true}, {ID: "server1", Live: true}, {ID: "server2", Live: true}, {ID: "server3", Live: false},
	}})
	if _, err := nc.Subscribe(prefix+".status", func(m *nats.Msg) { m.Respond(status) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), stmts...)
	}
}

func TestBenchJSON(t *testing.T) {
	url := startNATS(t)
	seen := fakeCluster(t, url, "b1")
	r := chorus(t, nil, "", "--nats", url, "--prefix", "b1", "bench", "--requests", "60", "--warmup", "0", "--concurrency", "4",
		"--keys", "5", "--mix", "0.5", "--json", "--label", "unit")
	r.want(t, 0)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, r.stdout)
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	x := rep.Runs[0]
	if x.Target != "chorus" || x.Loop != "closed" || x.OK != 60 || x.Errors != 0 || x.Throughput <= 0 || x.Latency.P99 <= 0 {
		t.Fatalf("result %+v", x)
	}
	if rep.Label != "unit" || rep.Replicas != 3 || rep.Settings.Requests != 60 || rep.Settings.Duration != 0 ||
		rep.Settings.Keys != 5 || rep.Settings.Prefix != "b1" || rep.Settings.NATS != url || rep.Compare != nil {
		t.Fatalf("report %+v", rep)
	}
	stmts := seen()
	if len(stmts) != 62 || stmts[0] != bench.SetupStatements[0] || stmts[1] != bench.SetupStatements[1] {
		t.Fatalf("%d statements, first %q", len(stmts), stmts[:min(2, len(stmts))])
	}
	// Progress goes to stderr only, as lines (not a terminal).
	if !strings.Contains(r.stderr, "done") || strings.Contains(r.stderr, "\r") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

// --workload idempotent sends INSERTs and UPDATEs of regular columns, no
// list append; an explicit --keys overrides the preset's 64.
func TestBenchWorkloadPreset(t *testing.T) {
	url := startNATS(t)
	seen := fakeCluster(t, url, "b2")
	r := chorus(t, nil, "", "--nats", url, "--prefix", "b2", "bench", "--requests", "200", "--warmup", "0", "--concurrency", "4",
		"--workload", "idempotent", "--keys", "7", "--json", "--quiet")
	r.want(t, 0)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if st := rep.Settings; st.Workload != "idempotent" || st.Keys != 7 || st.Mix != 0 || st.Updates != 0.5 {
		t.Fatalf("settings %+v", st)
	}
	updates, inserts := 0, 0
	for _, s := range seen()[len(bench.SetupStatements):] {
		switch {
		case strings.HasPrefix(s, "UPDATE bench_wide SET a = "):
			updates++
			if k := s[strings.LastIndex(s, " ")+1:]; k < "0" || k > "6" || len(k) != 1 {
				t.Fatalf("UPDATE of key %s, want 0..6: %s", k, s)
			}
		case strings.HasPrefix(s, "INSERT INTO bench_wide "):
			inserts++
		default:
			t.Fatalf("not an idempotent write: %s", s)
		}
	}
	if updates < 60 || inserts < 60 {
		t.Fatalf("%d UPDATEs, %d INSERTs of 200", updates, inserts)
	}
}

func TestBenchTextAndPlot(t *testing.T) {
	url := startNATS(t)
	fakeCluster(t, url, "db")
	plot := filepath.Join(t.TempDir(), "latency.svg")
	r := chorus(t, map[string]string{"CHORUS_NATS_URL": url}, "", "bench", "--requests", "20", "--warmup", "0",
		"--setup=false", "--replicas", "2", "--quiet", "--plot", plot)
	r.want(t, 0)
	for _, want := range []string{
		"chorus bench: closed loop, 32 concurrent, 20 requests after 0s warmup; 100 keys, 50% list appends (workload mixed)\n",
		"chorus  (" + url + ", prefix db, 2 live replicas)\n",
		"  requests    20 ok, 0 errors\n",
		"  latency     p50 ",
		"note: latency plot written to " + plot,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("--quiet, yet stderr %q", r.stderr)
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("plot is not XML: %v", err)
		}
	}
}

func TestBenchOpenLoop(t *testing.T) {
	url := startNATS(t)
	fakeCluster(t, url, "db")
	r := chorus(t, nil, "", "--nats", url, "bench", "--rate", "2000", "--requests", "100", "--warmup", "0",
		"--replicas", "3", "--json", "--quiet")
	r.want(t, 0)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	x := rep.Runs[0]
	if x.Loop != "open" || x.OfferedRate != 2000 || x.OK+x.Dropped != 100 || x.MaxInFlight != bench.DefaultMaxInFlight ||
		rep.Settings.Rate != 2000 || rep.Settings.MaxInFlight != bench.DefaultMaxInFlight {
		t.Fatalf("report %+v, result %+v", rep, x)
	}
}

func TestBenchNoWorkers(t *testing.T) {
	url := startNATS(t)
	r := chorus(t, nil, "", "--nats", url, "bench", "--requests", "5", "--timeout", "1s", "--quiet")
	r.want(t, exitFail)
	if !strings.Contains(r.stderr, "setting up through Chorus") || !strings.Contains(r.stderr, "reached no worker") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--requests", "10", "--duration", "5s"}, "give --duration or --requests, not both"},
		{[]string{"--mix", "1.5"}, "--mix must be between 0 and 1"},
		{[]string{"--keys", "0"}, "--keys must be at least 1"},
		{[]string{"--workload", "reads"}, `--workload must be append, idempotent or mixed, not "reads"`},
		{[]string{"--updates", "2"}, "--updates must be between 0 and 1"},
		{[]string{"--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"--rate", "-5"}, "--rate must be"},
		{[]string{"--rate", "5", "--max-inflight", "0"}, "--max-inflight must be at least 1"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--consistency", "quorum"}, "--consistency must be all or one"},
		{[]string{"--plot", "latency.png"}, "must end in .svg"},
		{[]string{"--direct", "--compare"}, "--compare already runs --direct"},
		{[]string{"--direct", "--keyspace", "system_auth"}, "system keyspace"},
		{[]string{"--replicas", "-1"}, "--replicas must not be negative"},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"--drop", "--keyspace", "system"}, "--drop"},
		{[]string{"--nosuch"}, "flag provided but not defined"},
	} {
		r := chorus(t, nil, "", append([]string{"--nats", "nats://127.0.0.1:1", "bench"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("bench %q: exit %d, stderr %q; want exit 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
	// Every problem at once.
	r := chorus(t, nil, "", "bench", "--mix", "3", "--keys", "-1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--mix") || !strings.Contains(r.stderr, "--keys") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBenchHelp(t *testing.T) {
	r := chorus(t, nil, "", "help")
	r.want(t, 0)
	if !strings.Contains(r.stdout, "  bench     measure throughput and latency") {
		t.Fatalf("usage lacks bench:\n%s", r.stdout)
	}
	r = chorus(t, nil, "", "help", "bench")
	r.want(t, 0)
	for _, want := range []string{"usage: chorus [global flags] bench [flags]", "--compare", "--rate writes/s", "--drop", "direct ÷ N"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestBenchDropKeepsDefaultLog(t *testing.T) {
	url := startNATS(t)
	r := chorus(t, nil, "", "--nats", url, "bench", "--drop")
	r.want(t, 0)
	if !strings.Contains(r.stdout, `kept the log of the default prefix "db"`) {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a file is not a terminal")
	}
}
