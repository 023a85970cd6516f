package worker_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// scrape is one worker's /metrics, parsed.
type scrape map[string]*dto.MetricFamily

// value is the sample of family name whose labels include labels (name,
// value pairs); a histogram's value is its count. ok is false if absent.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func scrapeMetrics(url string) (scrape, error) {
	code, body, err := get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	return scrape(fams), err
}

// everyWorkerMetric are the families every worker exports.
var everyWorkerMetric = []string{
	"chorus_writes_committed_total", "chorus_writes_failed_total", "chorus_commit_duration_seconds",
	"chorus_orders_appended_total", "chorus_order_writes", "chorus_order_append_failures_total", "chorus_leader_stepdowns_total",
	"chorus_exactly_once_hits_total", "chorus_apply_duration_seconds", "chorus_apply_entries", "chorus_apply_writes",
	"chorus_writes_applied_total", "chorus_store_errors_total", "chorus_requests_total", "chorus_forward_retries_total",
	"chorus_forwards_failed_total", "chorus_forwards_again_total", "chorus_applied_seq", "chorus_replica_lag", "chorus_replica_stalled", "chorus_replica_restoring",
	"chorus_replica_held_entries", "chorus_epoch", "chorus_leader", "chorus_leader_ready", "chorus_leader_epoch",
	"chorus_log_first_seq", "chorus_log_last_seq", "chorus_log_bytes", "chorus_snapshot_seq", "chorus_garbage_dropped_total",
	"chorus_forwards_rejected_total", "chorus_removed_member_messages_total", "chorus_divergences_total",
	"chorus_log_entries_skipped_total", "chorus_log_entries_duplicate_total", "chorus_nats_connected", "chorus_nats_reconnects_total",
	"chorus_nats_slow_consumers_total", "chorus_nats_permission_violations_total", "go_goroutines",
}

// TestMetricsAndHealth serves every worker's /metrics, /healthz and /readyz
// on a random port: after some writes the counters and gauges add up, one
// worker leads, every worker is ready; a worker whose store is blocked
// says in /readyz why it is not ready, and is ready again once it catches up.
func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	urls := map[string]string{}
	for _, id := range c.ids() {
		srv := httptest.NewServer(c.worker(id).Handler())
		t.Cleanup(srv.Close)
		urls[id] = srv.URL
	}

	const writes = 20
	c.writeMany(writes, 4)
	// A retry under the same request id is answered from the record.
	first := c.write(c.prefix+".request", "UPDATE t SET a = a + [0] WHERE k = 3", messages.HeaderRequestID, "metrics-retry")
	if again := c.write(c.prefix+".request", "UPDATE t SET a = a + [0] WHERE k = 3", messages.HeaderRequestID, "metrics-retry"); again.Seq != first.Seq {
		t.Fatalf("retry got seq %d, the original %d", again.Seq, first.Seq)
	}
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(leader) })
	applied := c.worker(leader).Applied()

	chorustest.Eventually(t, converge, func() error {
		leaders, requests := 0, 0.0
		for _, id := range c.ids() {
			s, err := scrapeMetrics(urls[id])
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			for _, name := range everyWorkerMetric {
				if _, ok := s[name]; !ok {
					return fmt.Errorf("%s: no %s in /metrics", id, name)
				}
			}
			if _, ok := s.value("chorus_applied_seq", "worker", id); !ok {
				return fmt.Errorf("%s: chorus_applied_seq has no worker=%q label", id, id)
			}
			want := map[string]float64{"chorus_applied_seq": float64(applied), "chorus_replica_lag": 0, "chorus_replica_stalled": 0,
				"chorus_nats_connected": 1, "chorus_log_last_seq": float64(applied), "chorus_log_first_seq": 1,
				"chorus_garbage_dropped_total": 0, "chorus_divergences_total": 0, "chorus_store_errors_total": 0}
			for name, v := range want {
				if got, _ := s.value(name); got != v {
					return fmt.Errorf("%s: %s = %v, want %v", id, name, got, v)
				}
			}
			if got, _ := s.value("chorus_writes_applied_total"); got < writes+1 {
				return fmt.Errorf("%s: chorus_writes_applied_total = %v, want at least %d", id, got, writes+1)
			}
			if got, _ := s.value("chorus_apply_duration_seconds"); got < 1 {
				return fmt.Errorf("%s: no apply latency observed", id)
			}
			if got, _ := s.value("chorus_epoch"); got == 0 {
				return fmt.Errorf("%s: chorus_epoch is 0", id)
			}
			r, _ := s.value("chorus_requests_total", "kind", "write")
			requests += r
			isLeader, _ := s.value("chorus_leader")
			if isLeader == 1 {
				leaders++
				if id != leader {
					return fmt.Errorf("%s says it leads, status says %s", id, leader)
				}
			}
			if id != leader {
				if _, ok := s["chorus_members"]; ok {
					return fmt.Errorf("follower %s exports chorus_members", id)
				}
				continue
			}
			checks := []struct {
				name   string
				labels []string
				min    float64
			}{
				{"chorus_writes_committed_total", nil, writes + 1},
				{"chorus_commit_duration_seconds", nil, writes + 1},
				{"chorus_orders_appended_total", []string{"kind", "write"}, 1},
				{"chorus_orders_appended_total", []string{"kind", "epoch"}, 1},
				{"chorus_orders_appended_total", []string{"kind", "member"}, 3},
				{"chorus_order_writes", nil, 1},
				{"chorus_exactly_once_hits_total", nil, 1},
				{"chorus_members", []string{"state", "live"}, 3},
				{"chorus_leader_ready", nil, 1},
				{"chorus_leader_epoch", nil, 1},
			}
			for _, ch := range checks {
				if got, ok := s.value(ch.name, ch.labels...); !ok || got < ch.min {
					return fmt.Errorf("leader %s: %s%v = %v, want at least %v", id, ch.name, ch.labels, got, ch.min)
				}
			}
			// Each write counted once: the retry is an exactly-once hit.
			if got, _ := s.value("chorus_writes_committed_total"); got != writes+1 {
				return fmt.Errorf("leader %s: %v writes committed, want exactly %d", id, got, writes+1)
			}
			if got, _ := s.value("chorus_members", "state", "out"); got != 0 {
				return fmt.Errorf("leader %s: %v members out, want 0", id, got)
			}
			if got, _ := s.value("chorus_writes_failed_total", "code", "CQL"); got != 0 {
				return fmt.Errorf("leader %s: %v writes failed", id, got)
			}
		}
		if leaders != 1 {
			return fmt.Errorf("%d workers export chorus_leader 1, want exactly 1", leaders)
		}
		if requests < writes+2 {
			return fmt.Errorf("the workers received %v writes, want at least %d", requests, writes+2)
		}
		return nil
	})

	for _, id := range c.ids() {
		if code, body, err := get(urls[id] + "/healthz"); err != nil || code != http.StatusOK || !strings.HasPrefix(body, "ok") {
			t.Fatalf("%s /healthz: %d %q %v", id, code, body, err)
		}
	}
	ready := func(id string) error {
		code, body, err := get(urls[id] + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.HasPrefix(body, "ready") {
			return fmt.Errorf("%s /readyz: %d %q", id, code, body)
		}
		return nil
	}
	for _, id := range c.ids() {
		chorustest.Eventually(t, converge, func() error { return ready(id) })
	}

	// A blocked store: the leader takes the replica out of the ACK set
	// (after CHORUS_ACK_TIMEOUT), and its /readyz says so.
	slow := c.follower(leader)
	m := c.store(slow)
	m.Block()
	unblocked := false
	defer func() {
		if !unblocked {
			m.Unblock()
		}
	}()
	c.writeMany(5, 1)
	var why string
	chorustest.Eventually(t, converge, func() error {
		code, body, err := get(urls[slow] + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable {
			return fmt.Errorf("blocked %s /readyz: %d %q, want 503", slow, code, body)
		}
		why = body
		return nil
	})
	t.Logf("blocked %s /readyz: %s", slow, strings.TrimSpace(why))
	if !strings.HasPrefix(why, "not ready: applied ") {
		t.Fatalf("blocked %s /readyz says %q, want the reason with its progress", slow, why)
	}
	if code, body, _ := get(urls[slow] + "/healthz"); code != http.StatusOK {
		t.Fatalf("blocked %s /healthz: %d %q; a blocked store is no reason to restart it", slow, code, body)
	}
	chorustest.Eventually(t, converge, func() error {
		s, err := scrapeMetrics(urls[leader])
		if err != nil {
			return err
		}
		if out, _ := s.value("chorus_members", "state", "out"); out != 1 {
			return fmt.Errorf("leader: %v members out, want 1", out)
		}
		s, err = scrapeMetrics(urls[slow])
		if err != nil {
			return err
		}
		if lag, _ := s.value("chorus_replica_lag"); lag < 1 {
			return fmt.Errorf("blocked %s: lag %v, want at least 1", slow, lag)
		}
		return nil
	})
	if err := ready(leader); err != nil {
		t.Fatal(err)
	}

	m.Unblock()
	unblocked = true
	chorustest.Eventually(t, converge, func() error { return ready(slow) })
	chorustest.Eventually(t, converge, func() error { return c.caughtUp(leader) })
}
