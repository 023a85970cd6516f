package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // CHORUS_DEBUG_ADDR
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chorusdb/chorus/store"
)

// Main is chorus-worker: configuration from the environment, run until
// SIGINT or SIGTERM. It returns the process exit code.
func Main(args []string, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			fmt.Fprintln(stderr, "chorus-worker: a Chorus replica. Configured by environment variables:")
			fmt.Fprintln(stderr)
			_ = Usage(stderr)
			return 0
		default:
			fmt.Fprintf(stderr, "chorus-worker takes no arguments (got %q); it is configured by CHORUS_* variables: see chorus-worker --help\n", args[0])
			return 2
		}
	}
	cfg, err := LoadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "chorus-worker: bad configuration:\n%v\n(see chorus-worker --help)\n", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("worker", cfg.ID)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.DebugAddr != "" {
		go func() { // profiles for operators; the worker runs without it
			log.Info("serving /debug/pprof", "addr", cfg.DebugAddr)
			if err := http.ListenAndServe(cfg.DebugAddr, nil); err != nil {
				log.Warn("cannot serve /debug/pprof", "err", err)
			}
		}()
	}
	var serving atomic.Pointer[Worker]
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			log.Error("cannot serve metrics (CHORUS_METRICS_ADDR)", "addr", cfg.MetricsAddr, "err", err)
			return 1
		}
		srv := &http.Server{Handler: metricsHandler(&serving), ReadHeaderTimeout: 10 * time.Second}
		defer srv.Close()
		go func() {
			log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("cannot serve metrics", "err", err)
			}
		}()
	}
	if cfg.NoopStore {
		log.Warn("CHORUS_NOOP_STORE is set: writes are acknowledged without being applied (benchmarks only)")
	}
	w, err := New(ctx, cfg, log, CassandraOpener(cfg, log))
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	serving.Store(w)
	if err := w.Run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// metricsHandler serves the worker's metrics and health once it exists;
// until then (connecting to NATS, waiting for Cassandra) it says so.
func metricsHandler(w *atomic.Pointer[Worker]) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if wk := w.Load(); wk != nil {
			wk.Handler().ServeHTTP(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(rw, "not ready: starting (connecting to NATS, opening the keyspace in Cassandra)")
	})
}

// CassandraOpener opens the worker's keyspace as configured (or the no-op
// store of CHORUS_NOOP_STORE).
func CassandraOpener(cfg Config, log *slog.Logger) func(context.Context) (Store, store.State, error) {
	return func(ctx context.Context) (Store, store.State, error) {
		if cfg.NoopStore {
			return store.Noop{}, store.State{}, nil
		}
		s, st, err := store.OpenCassandra(ctx, store.Config{
			Hosts: cfg.CassandraHosts, Keyspace: cfg.KeyspaceName(),
			Username: cfg.CassandraUser, Password: cfg.CassandraPassword,
			ReplicationFactor: cfg.ReplicationFactor, Replication: cfg.Replication(),
			Consistency: cfg.CassandraConsistency, Timeout: cfg.CassandraTimeout,
			DedupWindow: cfg.DedupWindow, MaxRows: cfg.MaxRows,
			TLSCA: cfg.CassandraTLSCA, TLSCert: cfg.CassandraTLSCert, TLSKey: cfg.CassandraTLSKey,
			Log: log,
		})
		if err != nil {
			return nil, st, err
		}
		return s, st, nil
	}
}
