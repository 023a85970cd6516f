package natsauth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Context is what Chorus uses of a nats CLI context: the JSON file the nats
// CLI (natscli v0.5.0) keeps as ~/.config/nats/context/NAME.json, or under
// $XDG_CONFIG_HOME/nats/context.
type Context struct {
	URL         string `json:"url"`
	User        string `json:"user"`
	Password    string `json:"password"`
	Token       string `json:"token"`
	Creds       string `json:"creds"`
	NKey        string `json:"nkey"`
	Cert        string `json:"cert"`
	Key         string `json:"key"`
	CA          string `json:"ca"`
	InboxPrefix string `json:"inbox_prefix"`
}

// ContextPath is where the nats CLI keeps the context name.
func ContextPath(name string, getenv func(string) string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("invalid context name %q", name)
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return "", fmt.Errorf("cannot find the nats contexts: %w", err)
			}
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "nats", "context", name+".json"), nil
}

// LoadContext reads the nats CLI context name. Paths starting with ~ are
// taken from the home directory, as the nats CLI does. Credentials the nats
// CLI resolves through other programs (nsc:// and similar URLs) are not
// supported: they are reported as errors, never silently ignored.
func LoadContext(name string, getenv func(string) string) (Context, error) {
	path, err := ContextPath(name, getenv)
	if err != nil {
		return Context{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Context{}, fmt.Errorf("nats context %q: %w", name, err)
	}
	var c Context
	if err := json.Unmarshal(b, &c); err != nil {
		return Context{}, fmt.Errorf("nats context %q (%s): %w", name, path, err)
	}
	home := getenv("HOME")
	for _, p := range []*string{&c.Creds, &c.NKey, &c.Cert, &c.Key, &c.CA} {
		if strings.Contains(*p, "://") {
			return Context{}, fmt.Errorf("nats context %q: %q: only file paths are supported", name, *p)
		}
		if home != "" && (*p == "~" || strings.HasPrefix(*p, "~/")) {
			*p = filepath.Join(home, strings.TrimPrefix(*p, "~"))
		}
	}
	return c, nil
}

// Settings are the context's credentials and TLS files.
func (c Context) Settings() Settings {
	return Settings{
		Creds: c.Creds, NKey: c.NKey, User: c.User, Password: c.Password, Token: c.Token,
		TLSCA: c.CA, TLSCert: c.Cert, TLSKey: c.Key, InboxPrefix: c.InboxPrefix,
	}
}
