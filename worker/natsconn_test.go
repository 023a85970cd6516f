package worker

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/chorusdb/chorus/natsauth"
)

func TestConfigNamesBadCredentialsAndTLS(t *testing.T) {
	t.Setenv("CHORUS_ID", "server0")
	t.Setenv("CHORUS_NATS_NKEY", "/nonexistent/worker.nk")
	t.Setenv("CHORUS_NATS_TOKEN", "secret")
	t.Setenv("CHORUS_NATS_PASSWORD", "pw")
	t.Setenv("CHORUS_NATS_TLS_CERT", "/nonexistent/cert.pem")
	t.Setenv("CHORUS_NATS_TLS_CA", "/nonexistent/ca.pem")
	t.Setenv("CHORUS_CASSANDRA_TLS_KEY", "/nonexistent/key.pem")
	t.Setenv("CHORUS_CASSANDRA_TLS_CA", "/nonexistent/cass-ca.pem")
	t.Setenv("CHORUS_MAX_STATEMENT_BYTES", "2000000")
	_, err := LoadConfig()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"CHORUS_NATS_NKEY", "CHORUS_NATS_TOKEN", "CHORUS_NATS_PASSWORD", "CHORUS_NATS_TLS_KEY",
		"CHORUS_NATS_TLS_CA", "CHORUS_CASSANDRA_TLS_CERT", "CHORUS_CASSANDRA_TLS_CA", "CHORUS_MAX_STATEMENT_BYTES"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestHelpListsSecuritySettings(t *testing.T) {
	var b strings.Builder
	if err := Usage(&b); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"CHORUS_NATS_CREDS", "CHORUS_NATS_NKEY", "CHORUS_NATS_USER", "CHORUS_NATS_PASSWORD", "CHORUS_NATS_TOKEN",
		"CHORUS_NATS_TLS_CA", "CHORUS_NATS_TLS_CERT", "CHORUS_NATS_TLS_KEY", "CHORUS_CASSANDRA_TLS_CA", "CHORUS_CASSANDRA_TLS_CERT", "CHORUS_CASSANDRA_TLS_KEY"} {
		if !strings.Contains(b.String(), v) {
			t.Errorf("--help does not list %s", v)
		}
	}
}

// A worker started from the repository root after `make up` finds the local
// worker nkey; anything configured explicitly wins.
func TestLocalCredentialsByDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c := Config{NATSURL: "nats://127.0.0.1:4222"}
	if s, local := c.credentials(); local || s.HasCredentials() {
		t.Fatalf("no local file: %+v %v", s, local)
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(natsauth.LocalWorkerNKey), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(natsauth.LocalWorkerNKey, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, local := c.credentials(); !local || s.NKey != natsauth.LocalWorkerNKey {
		t.Fatalf("local file not used: %+v %v", s, local)
	}
	for _, explicit := range []Config{
		{NATSURL: "nats://u:p@127.0.0.1:4222"},
		{NATSURL: "nats://127.0.0.1:4222", NATSUser: "u"},
		{NATSURL: "nats://127.0.0.1:4222", NATSToken: "t"},
		{NATSURL: "nats://127.0.0.1:4222", NATSCreds: "x.creds"},
	} {
		if s, local := explicit.credentials(); local || s.NKey != "" {
			t.Errorf("%+v: local file used", explicit)
		}
	}
}

func TestNATSErrorsAreCounted(t *testing.T) {
	w := &Worker{cfg: Config{ID: "server0"}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	opts, err := w.natsOptions(natsauth.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	o.AsyncErrorCB(nil, nil, nats.ErrSlowConsumer)
	o.AsyncErrorCB(nil, nil, fmt.Errorf("%w: Permissions Violation for Publish to \"x\"", nats.ErrPermissionViolation))
	if w.connStats.SlowConsumer.Load() != 1 || w.connStats.PermissionViolation.Load() != 1 {
		t.Fatalf("slow %d, denied %d", w.connStats.SlowConsumer.Load(), w.connStats.PermissionViolation.Load())
	}
}

func TestRequestBudget(t *testing.T) {
	var b budget
	m := &nats.Msg{Subject: "db.request", Data: make([]byte, 1<<20)}
	n := 0
	for b.take(m) {
		n++
	}
	if want := requestBudgetBytes / int(requestSize(m)); n != want {
		t.Fatalf("took %d requests of 1 MiB, want %d", n, want)
	}
	b.release(m)
	if !b.take(m) {
		t.Fatal("a released request's bytes were not returned to the budget")
	}
}
