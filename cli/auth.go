package cli

import (
	"errors"
	"flag"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/natsauth"
)

// NATS credentials and TLS: flags, or the same variables as chorus-worker's,
// or a nats CLI context (--context). Explicit credentials (flags or
// variables) replace the context's; other context fields fill in what is
// not set, and its url is used when neither --nats nor CHORUS_NATS_URL is.
type auth struct {
	settings natsauth.Settings
	context  string
	urlSet   bool // --nats or CHORUS_NATS_URL given
}

// authFlags are the names of the global authentication flags, with the
// variable each defaults from.
var authFlags = []struct{ flag, env, usage string }{
	{"creds", "CHORUS_NATS_CREDS", "NATS .creds `file` (user JWT and nkey seed)"},
	{"nkey", "CHORUS_NATS_NKEY", "`file` holding a NATS nkey seed"},
	{"user", "CHORUS_NATS_USER", "NATS user `name` (also nats://user:pass@host in --nats)"},
	{"password", "CHORUS_NATS_PASSWORD", "NATS `password` of --user"},
	{"token", "CHORUS_NATS_TOKEN", "NATS authentication `token`"},
	{"tls-ca", "CHORUS_NATS_TLS_CA", "PEM `file` of the CA of the NATS server's certificate (turns TLS on)"},
	{"tls-cert", "CHORUS_NATS_TLS_CERT", "PEM `file` of a client certificate for NATS"},
	{"tls-key", "CHORUS_NATS_TLS_KEY", "PEM `file` of the private key of --tls-cert"},
}

// field is where flag name is stored.
func (a *auth) field(name string) *string {
	s := &a.settings
	return map[string]*string{
		"creds": &s.Creds, "nkey": &s.NKey, "user": &s.User, "password": &s.Password, "token": &s.Token,
		"tls-ca": &s.TLSCA, "tls-cert": &s.TLSCert, "tls-key": &s.TLSKey,
	}[name]
}

// fromEnv sets the defaults from the environment.
func (a *auth) fromEnv(getenv func(string) string) {
	for _, f := range authFlags {
		if v := getenv(f.env); v != "" {
			*a.field(f.flag) = v
		}
	}
}

func (a *auth) register(fs *flag.FlagSet) {
	for _, f := range authFlags {
		p := a.field(f.flag)
		fs.StringVar(p, f.flag, *p, f.usage+" (env "+f.env+")")
	}
	fs.StringVar(&a.context, "context", a.context, "use the nats CLI context `name` (~/.config/nats/context/NAME.json)")
}

// isAuthFlag reports whether name is one of the global authentication flags.
func isAuthFlag(name string) bool {
	if name == "context" {
		return true
	}
	for _, f := range authFlags {
		if f.flag == name {
			return true
		}
	}
	return false
}

// resolve applies the context, checks the settings and returns the URL and
// the nats.go options to connect with.
func (a *auth) resolve(url string, getenv func(string) string) (string, []nats.Option, error) {
	s := a.settings
	if a.context != "" {
		ctx, err := natsauth.LoadContext(a.context, getenv)
		if err != nil {
			return "", nil, err
		}
		cs := ctx.Settings()
		if !s.HasCredentials() {
			s.Creds, s.NKey, s.User, s.Password, s.Token = cs.Creds, cs.NKey, cs.User, cs.Password, cs.Token
		}
		if s.TLSCA == "" {
			s.TLSCA = cs.TLSCA
		}
		if s.TLSCert == "" && s.TLSKey == "" {
			s.TLSCert, s.TLSKey = cs.TLSCert, cs.TLSKey
		}
		s.InboxPrefix = cs.InboxPrefix
		if !a.urlSet && ctx.URL != "" {
			url = ctx.URL
		}
	}
	names := natsauth.Names{Creds: "--creds", NKey: "--nkey", User: "--user", Password: "--password", Token: "--token",
		TLSCA: "--tls-ca", TLSCert: "--tls-cert", TLSKey: "--tls-key"}
	if err := errors.Join(s.Problems(names)...); err != nil {
		return "", nil, err
	}
	opts, err := s.Options()
	return url, opts, err
}
