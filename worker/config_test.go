package worker

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoadConfigDefaults(t *testing.T) {
	t.Setenv("CHORUS_ID", "server0")
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyspaceName() != "server0" || c.NATSURL != "nats://127.0.0.1:4222" || c.SubjectPrefix != "db" || c.CassandraHosts[0] != "127.0.0.1:9042" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadConfigNamesEveryProblem(t *testing.T) {
	t.Setenv("CHORUS_ID", "")
	t.Setenv("CHORUS_LEASE_TTL", "soon")
	t.Setenv("CHORUS_MAX_ROWS", "many")
	t.Setenv("CHORUS_SUBJECT_PREFIX", "db.>")
	t.Setenv("CHORUS_REPLICATION_FACTOR", "0")
	t.Setenv("CHORUS_LOG_LEVEL", "loud")
	_, err := LoadConfig()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"CHORUS_ID", "CHORUS_LEASE_TTL", "CHORUS_MAX_ROWS", "CHORUS_SUBJECT_PREFIX", "CHORUS_REPLICATION_FACTOR", "CHORUS_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestBadIDAndKeyspace(t *testing.T) {
	t.Setenv("CHORUS_ID", "server.1")
	t.Setenv("CHORUS_KEYSPACE", "system_x")
	_, err := LoadConfig()
	if err == nil || !strings.Contains(err.Error(), "CHORUS_ID") || !strings.Contains(err.Error(), "CHORUS_KEYSPACE") {
		t.Fatalf("got %v", err)
	}
}

func TestMainExitsNonZeroOnBadConfig(t *testing.T) {
	t.Setenv("CHORUS_ID", "")
	t.Setenv("CHORUS_HEARTBEAT_TIMEOUT", "1ms")
	var stderr bytes.Buffer
	if code := Main(nil, &stderr); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "CHORUS_ID") || !strings.Contains(stderr.String(), "CHORUS_HEARTBEAT_TIMEOUT") {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestHelpListsVariables(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"--help"}, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, v := range []string{"CHORUS_ID", "CHORUS_NATS_URL", "CHORUS_CASSANDRA_HOSTS", "CHORUS_SUBJECT_PREFIX", "CHORUS_LEASE_TTL"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help does not list %s", v)
		}
	}
}

func TestRecentForgetsOldest(t *testing.T) {
	r := NewRecent(1e9, 2)
	r.Add("a", messagesOutcome(1), t0())
	r.Add("b", messagesOutcome(2), t0())
	r.Add("c", messagesOutcome(3), t0())
	if _, ok := r.Lookup("a"); ok {
		t.Fatal("a kept beyond the count bound")
	}
	if o, ok := r.Lookup("c"); !ok || o.Seq != 3 {
		t.Fatal("c lost")
	}
	r.Add("d", messagesOutcome(4), t0().Add(2e9))
	if r.Len() != 1 {
		t.Fatalf("age bound: %d left", r.Len())
	}
}

func TestMetricsAddrIsValidated(t *testing.T) {
	for addr, ok := range map[string]bool{"": true, ":9464": true, "127.0.0.1:0": true, "[::1]:9464": true,
		"9464": false, "localhost:http-ish": false, ":70000": false} {
		c := DefaultConfig()
		c.ID, c.MetricsAddr = "server0", addr
		err := c.Validate()
		if ok && err != nil {
			t.Errorf("%q refused: %v", addr, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "CHORUS_METRICS_ADDR")) {
			t.Errorf("%q: got %v, want an error naming CHORUS_METRICS_ADDR", addr, err)
		}
	}
	var out bytes.Buffer
	if code := Main([]string{"--help"}, &out); code != 0 || !strings.Contains(out.String(), "CHORUS_METRICS_ADDR") {
		t.Fatalf("--help (exit %d) does not list CHORUS_METRICS_ADDR:\n%s", code, out.String())
	}
}
