package worker

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/natsauth"
)

// natsNames are the variables of the NATS settings, for error messages.
var natsNames = natsauth.Names{
	Creds: EnvPrefix + "_NATS_CREDS", NKey: EnvPrefix + "_NATS_NKEY", User: EnvPrefix + "_NATS_USER",
	Password: EnvPrefix + "_NATS_PASSWORD", Token: EnvPrefix + "_NATS_TOKEN", TLSCA: EnvPrefix + "_NATS_TLS_CA",
	TLSCert: EnvPrefix + "_NATS_TLS_CERT", TLSKey: EnvPrefix + "_NATS_TLS_KEY",
}

// natsSettings are the NATS credentials and TLS files as configured.
func (c *Config) natsSettings() natsauth.Settings {
	return natsauth.Settings{
		Creds: c.NATSCreds, NKey: c.NATSNKey, User: c.NATSUser, Password: c.NATSPassword, Token: c.NATSToken,
		TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey,
	}
}

// cassandraTLSProblems checks the Cassandra TLS files the way the NATS ones
// are checked (readable PEM, certificate and key together).
func (c *Config) cassandraTLSProblems() []error {
	s := natsauth.Settings{TLSCA: c.CassandraTLSCA, TLSCert: c.CassandraTLSCert, TLSKey: c.CassandraTLSKey}
	return s.Problems(natsauth.Names{
		TLSCA: EnvPrefix + "_CASSANDRA_TLS_CA", TLSCert: EnvPrefix + "_CASSANDRA_TLS_CERT", TLSKey: EnvPrefix + "_CASSANDRA_TLS_KEY",
	})
}

// credentials are the settings the worker connects with: the configured
// ones, or, when none is configured (neither a variable nor user:pass in
// the URL) and the file exists in the working directory, the local worker
// nkey that `make up` generates (natsauth.LocalWorkerNKey).
func (c *Config) credentials() (natsauth.Settings, bool) {
	s := c.natsSettings()
	if s.HasCredentials() || urlHasUser(c.NATSURL) {
		return s, false
	}
	if _, err := os.Stat(natsauth.LocalWorkerNKey); err != nil {
		return s, false
	}
	s.NKey = natsauth.LocalWorkerNKey
	return s, true
}

func urlHasUser(urls string) bool {
	for _, u := range strings.Split(urls, ",") {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.User != nil {
			return true
		}
	}
	return false
}

// Bounds of the request subscriptions (the micro endpoints, service.go):
// past them nats.go drops messages (a slow consumer), which the error
// handler counts and logs. The handoff callback never blocks, and the
// request channel (with its byte budget) answers UNAVAILABLE long before
// these fill up.
const (
	requestPendingMsgs  = 1 << 16
	requestPendingBytes = 64 << 20
	// requestBudgetBytes bounds the bytes of the requests queued or being
	// served at once; beyond it a request is answered UNAVAILABLE.
	requestBudgetBytes = 64 << 20
)

// connStats counts what NATS reports asynchronously.
type connStats struct {
	SlowConsumer        atomic.Uint64 // times a subscription fell behind and NATS dropped messages
	PermissionViolation atomic.Uint64 // operations the server refused (the worker's NATS permissions are too narrow)
}

// connect opens the worker's NATS connection. The local default
// credentials are only a default: a server without authentication (one
// started with an older nats.conf) refuses nkeys, and the worker then
// connects without them, as it would have before.
func (w *Worker) connect() (*nats.Conn, error) {
	creds, local := w.cfg.credentials()
	opts, err := w.natsOptions(creds)
	if err != nil {
		return nil, err
	}
	if local {
		w.log.Info("no NATS credentials configured: using the local worker credentials of make up", "nkey", natsauth.LocalWorkerNKey)
	}
	nc, err := nats.Connect(w.cfg.NATSURL, opts...)
	if local && errors.Is(err, nats.ErrNkeysNotSupported) {
		w.log.Warn("the NATS server has no authentication: connecting without the local worker credentials (restart it with the repository's nats.conf: make down up)")
		if opts, err = w.natsOptions(w.cfg.natsSettings()); err != nil {
			return nil, err
		}
		nc, err = nats.Connect(w.cfg.NATSURL, opts...)
	}
	return nc, err
}

// natsOptions builds the options of the worker's NATS connection.
func (w *Worker) natsOptions(creds natsauth.Settings) ([]nats.Option, error) {
	cfg, log := w.cfg, w.log
	auth, err := creds.Options()
	if err != nil {
		return nil, err
	}
	return append([]nats.Option{
		nats.Name("chorus-worker " + cfg.ID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// A frozen server (SIGSTOP, a hung host) keeps the TCP connection
		// open; nats.go's default pings notice after minutes. These notice
		// within about a heartbeat timeout, so the worker moves to another
		// server of the cluster before the leader counts it out.
		nats.PingInterval(max(cfg.HeartbeatTimeout/2, 250*time.Millisecond)),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "url", c.ConnectedUrl()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			switch {
			case errors.Is(err, nats.ErrSlowConsumer):
				w.connStats.SlowConsumer.Add(1)
				dropped := 0
				if sub != nil {
					dropped, _ = sub.Dropped()
				}
				log.Warn("NATS dropped messages of a slow subscription", "subject", subject, "dropped_total", dropped)
			case errors.Is(err, nats.ErrPermissionViolation):
				w.connStats.PermissionViolation.Add(1)
				log.Error("NATS refused an operation: check this worker's NATS permissions (SECURITY.md)", "err", err)
			default:
				log.Warn("NATS error", "subject", subject, "err", err)
			}
		}),
	}, auth...), nil
}

// budget bounds the bytes of requests a worker holds at once.
type budget struct{ used atomic.Int64 }

func requestSize(m *nats.Msg) int64 { return int64(len(m.Data) + len(m.Reply) + len(m.Subject)) }

// take reserves m's bytes; false (nothing reserved) if that would pass the budget.
func (b *budget) take(m *nats.Msg) bool {
	n := requestSize(m)
	if b.used.Add(n) > requestBudgetBytes {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) release(m *nats.Msg) { b.used.Add(-requestSize(m)) }
