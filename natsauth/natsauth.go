// Package natsauth turns the credentials and TLS settings of the NATS
// ecosystem into nats.go options, for chorus-worker and the chorus CLI
// alike: a .creds file (JWT and nkey seed), an nkey seed file, a user and
// password (also user:pass@ in the URL, which nats.go reads itself), a
// token, and TLS with a CA, a client certificate and its key. It also reads
// nats CLI contexts (~/.config/nats/context/NAME.json).
package natsauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// LocalWorkerNKey and LocalAdminNKey are the nkey seed files `make up`
// generates (deploy/local/nats.sh), relative to the repository root.
// chorus-worker uses LocalWorkerNKey when it is started from the root with
// no credentials configured, so it connects to the local NATS as a worker.
const (
	LocalWorkerNKey = ".data/creds/worker.nk"
	LocalAdminNKey  = ".data/creds/admin.nk"
)

// Settings say how to authenticate to NATS and how to secure the
// connection. At most one of Creds, NKey, User and Token may be set.
type Settings struct {
	Creds    string // a .creds file: user JWT and nkey seed (operator mode)
	NKey     string // a file holding an nkey seed (SU...)
	User     string
	Password string
	Token    string
	TLSCA    string // PEM file of the CA that signed the server's certificate
	TLSCert  string // PEM file of the client certificate (with TLSKey)
	TLSKey   string // PEM file of the client certificate's private key
	// InboxPrefix replaces _INBOX as the prefix of reply subjects (a private
	// inbox for a user of its own; see SECURITY.md).
	InboxPrefix string
}

// Names maps the fields of Settings to the names a user sets them by
// (environment variables or flags), for error messages.
type Names struct {
	Creds, NKey, User, Password, Token, TLSCA, TLSCert, TLSKey string
}

// HasCredentials reports whether any credential is set.
func (s Settings) HasCredentials() bool {
	return s.Creds != "" || s.NKey != "" || s.User != "" || s.Token != ""
}

// Problems names every unusable setting: several credentials at once, a
// password without a user, a certificate without its key (or the other way
// round), files that cannot be read or do not hold what they should.
func (s Settings) Problems(n Names) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	var set []string
	for _, c := range []struct{ v, name string }{{s.Creds, n.Creds}, {s.NKey, n.NKey}, {s.User, n.User}, {s.Token, n.Token}} {
		if c.v != "" {
			set = append(set, c.name)
		}
	}
	if len(set) > 1 {
		bad(set[1], "set together with %s: give one kind of NATS credential", strings.Join(append(set[:1:1], set[2:]...), ", "))
	}
	if s.Password != "" && s.User == "" {
		bad(n.Password, "set without %s", n.User)
	}
	if s.Creds != "" {
		if b, err := os.ReadFile(s.Creds); err != nil {
			bad(n.Creds, "%v", err)
		} else if jwt, err := nkeys.ParseDecoratedJWT(b); err != nil || strings.Count(jwt, ".") != 2 {
			bad(n.Creds, "%s is not a .creds file (no user JWT)", s.Creds)
		} else if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
			bad(n.Creds, "%s is not a .creds file (no nkey seed): %v", s.Creds, err)
		}
	}
	if s.NKey != "" {
		if _, err := readSeed(s.NKey); err != nil {
			bad(n.NKey, "%v", err)
		}
	}
	if s.TLSCA != "" {
		if _, err := readCA(s.TLSCA); err != nil {
			bad(n.TLSCA, "%v", err)
		}
	}
	switch {
	case s.TLSCert != "" && s.TLSKey == "":
		bad(n.TLSKey, "required with %s", n.TLSCert)
	case s.TLSKey != "" && s.TLSCert == "":
		bad(n.TLSCert, "required with %s", n.TLSKey)
	case s.TLSCert != "":
		if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
			bad(n.TLSCert, "cannot load the certificate and key: %v", err)
		}
	}
	if s.InboxPrefix != "" && (strings.ContainsAny(s.InboxPrefix, "*> \t") || strings.HasSuffix(s.InboxPrefix, ".")) {
		bad("inbox_prefix", "%q is not a subject prefix", s.InboxPrefix)
	}
	return errs
}

// Options returns the nats.go options for s.
func (s Settings) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case s.Creds != "":
		opts = append(opts, nats.UserCredentials(s.Creds))
	case s.NKey != "":
		o, err := nats.NkeyOptionFromSeed(s.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", s.NKey, err)
		}
		opts = append(opts, o)
	case s.User != "":
		opts = append(opts, nats.UserInfo(s.User, s.Password))
	case s.Token != "":
		opts = append(opts, nats.Token(s.Token))
	}
	if s.TLSCA != "" {
		opts = append(opts, nats.RootCAs(s.TLSCA))
	}
	if s.TLSCert != "" {
		opts = append(opts, nats.ClientCert(s.TLSCert, s.TLSKey))
	}
	if s.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(s.InboxPrefix))
	}
	return opts, nil
}

func readSeed(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s holds no nkey seed: %w", path, err)
	}
	if _, err := seed.Seed(); err != nil {
		return nil, fmt.Errorf("%s holds a public key, not a seed", path)
	}
	return b, nil
}

func readCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New(path + " holds no PEM certificate")
	}
	return pool, nil
}
