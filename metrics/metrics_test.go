package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chorusdb/chorus/messages"
)

// fullState has every optional series present.
func fullState() State {
	return State{Applied: 5, Known: 7, Leading: true, LeaderReady: true, Members: map[string]int{messages.StateLive: 3},
		LogRead: true, LogFirst: 1, LogLast: 7, SnapshotSeq: 4, SnapshotAt: time.Now().Add(-time.Minute)}
}

// families gathers the registry of a worker in fullState.
func families(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	m := New("server0", fullState)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

var (
	metricName = regexp.MustCompile(`\bchorus_[a-zA-Z0-9_]+`)
	byLabels   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	matchLabel = regexp.MustCompile(`[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// checkQueries requires every chorus_ metric and every label that the
// PromQL expressions exprs use to exist in the registry (so the dashboard
// and the alerts cannot drift from the code).
func checkQueries(t *testing.T, file string, exprs []string) {
	t.Helper()
	fams := families(t)
	labels := map[string]bool{"le": true, "job": true, "instance": true}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
	}
	used := 0
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used++
			if _, ok := fams[name]; ok {
				continue
			}
			found := false
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := fams[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && f.GetType() == dto.MetricType_HISTOGRAM {
					found = true
				}
			}
			if !found {
				t.Errorf("%s queries %s, which the worker does not export (in %q)", file, name, e)
			}
		}
		for _, m := range byLabels.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labels[l] {
					t.Errorf("%s groups by label %q, which no metric has (in %q)", file, l, e)
				}
			}
		}
		for _, m := range matchLabel.FindAllStringSubmatch(e, -1) {
			if !labels[m[1]] {
				t.Errorf("%s matches label %q, which no metric has (in %q)", file, m[1], e)
			}
		}
	}
	if used == 0 {
		t.Fatalf("%s queries no chorus_ metric", file)
	}
}

// queries collects the PromQL of a Grafana dashboard: every target's expr
// and every templating query, wherever panels nest.
func queries(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "expr" || k == "definition" || (k == "query" && strings.Contains(s, "("))) {
				*out = append(*out, s)
				continue
			}
			queries(x, out)
		}
	case []any:
		for _, x := range v {
			queries(x, out)
		}
	}
}

func TestDashboardQueriesExistingMetrics(t *testing.T) {
	const file = "../deploy/grafana/chorus-dashboard.json"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", file, err)
	}
	if dash["title"] == "" || dash["panels"] == nil {
		t.Fatalf("%s has no title or panels", file)
	}
	var exprs []string
	queries(dash, &exprs)
	checkQueries(t, file, exprs)
	// Every panel's targets name a datasource and a query.
	for _, p := range dash["panels"].([]any) {
		p := p.(map[string]any)
		if p["type"] == "row" {
			continue
		}
		ts, _ := p["targets"].([]any)
		if len(ts) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
	}
}

func TestAlertsQueryExistingMetrics(t *testing.T) {
	const file = "../deploy/prometheus/chorus-alerts.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, line := range strings.Split(string(b), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			exprs = append(exprs, e)
		}
	}
	checkQueries(t, file, exprs)
	// The README explains every alert.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`alert: (\w+)`).FindAllStringSubmatch(string(b), -1) {
		if !strings.Contains(string(readme), m[1]) {
			t.Errorf("README.md does not explain alert %s", m[1])
		}
	}
}

func TestGaugesFollowState(t *testing.T) {
	fams := families(t)
	if got := fams["chorus_replica_lag"].GetMetric()[0].GetGauge().GetValue(); got != 2 {
		t.Errorf("lag %v, want 2", got)
	}
	var states []string
	for _, m := range fams["chorus_members"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "state" {
				states = append(states, l.GetValue())
			}
		}
	}
	slices.Sort(states)
	want := slices.Clone(MemberStates)
	slices.Sort(want)
	if !slices.Equal(states, want) {
		t.Errorf("chorus_members states %v, want %v", states, want)
	}
	for _, m := range fams["chorus_leader"].GetMetric() {
		if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "worker" || l[0].GetValue() != "server0" {
			t.Errorf("chorus_leader labels %v, want worker=server0", l)
		}
	}
	// A follower exports no members and no log gauges before reading the log.
	follower, err := New("server1", func() State { return State{} }).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range follower {
		switch f.GetName() {
		case "chorus_members", "chorus_log_first_seq", "chorus_snapshot_age_seconds":
			t.Errorf("%s exported without its data", f.GetName())
		}
	}
}

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.WriteAnswered(messages.CodeOK, time.Now(), time.Now())
	m.Appended(messages.OrderWrite, 3)
	m.AppendFailed()
	m.SteppedDown()
	m.ExactlyOnceHit()
	m.Applied(1, 1, time.Millisecond, nil)
	m.QueryFailed()
	m.Request(RequestRead)
	m.ForwardRetried()
	m.ForwardFailed()
}

func TestHandlerAnswersChecks(t *testing.T) {
	m := New("server0", fullState)
	m.WriteAnswered(messages.CodeOK, time.Now().Add(-time.Millisecond), time.Now())
	m.WriteAnswered(messages.CodeCQL, time.Now(), time.Now())
	srv := httptest.NewServer(Handler(m, func() (bool, string) { return true, "ok: up" }, func() (bool, string) { return false, "not ready: applied 1 of 9" }))
	defer srv.Close()
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/healthz": {200, "ok: up"},
		"/readyz":  {503, "not ready: applied 1 of 9"},
		"/metrics": {200, `chorus_writes_failed_total{code="CQL",worker="server0"} 1`},
		"/nothing": {404, ""},
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.code || !strings.Contains(string(b), want.body) {
			t.Errorf("%s: %d %q, want %d with %q", path, resp.StatusCode, b, want.code, want.body)
		}
	}
}
