package worker_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/natsauth"
	"github.com/chorusdb/chorus/worker"
)

// localConfig is a worker configured as the README's local run: only the
// ID, the NATS URL, the Cassandra hosts and the prefix (and no store).
func localConfig(t *testing.T, url string) worker.Config {
	t.Helper()
	t.Setenv("CHORUS_ID", "server0")
	t.Setenv("CHORUS_NATS_URL", url)
	t.Setenv("CHORUS_CASSANDRA_HOSTS", "127.0.0.1:9042")
	t.Setenv("CHORUS_SUBJECT_PREFIX", chorustest.SecurePrefix)
	t.Setenv("CHORUS_NOOP_STORE", "true")
	cfg, err := worker.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newWorker(cfg worker.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := worker.New(ctx, cfg, log, worker.CassandraOpener(cfg, log))
	return err
}

// installLocalSeed puts seed where make up puts the worker's, under a new
// working directory (the repository root of the test).
func installLocalSeed(t *testing.T, seed string) {
	t.Helper()
	b, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(filepath.Dir(natsauth.LocalWorkerNKey), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(natsauth.LocalWorkerNKey, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Started from the root after make up, with nothing but the four
// variables, a worker connects to the shipped configuration as a worker
// (it may create the ORDER stream, which a client may not).
func TestWorkerUsesLocalCredentialsOnShippedConfig(t *testing.T) {
	sn := chorustest.ShippedNATS(t)
	cfg := localConfig(t, sn.URL)
	if err := newWorker(cfg, 2*time.Second); err == nil {
		t.Fatal("a worker without credentials opened the ORDER log")
	}
	installLocalSeed(t, sn.WorkerNKey)
	if err := newWorker(cfg, 20*time.Second); err != nil {
		t.Fatalf("with .data/creds/worker.nk: %v", err)
	}
}

// The local credentials are a default: on a server without authentication
// the worker connects without them.
func TestLocalCredentialsOnServerWithoutAuth(t *testing.T) {
	sn := chorustest.ShippedNATS(t)
	open := chorustest.NATS(t)
	installLocalSeed(t, sn.WorkerNKey)
	if err := newWorker(localConfig(t, open.ClientURL()), 20*time.Second); err != nil {
		t.Fatal(err)
	}
}
