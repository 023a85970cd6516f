package natsauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

var names = Names{Creds: "CREDS", NKey: "NKEY", User: "USER", Password: "PASSWORD", Token: "TOKEN", TLSCA: "CA", TLSCert: "CERT", TLSKey: "KEY"}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func seedFile(t *testing.T) (path, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	return write(t, "u.nk", string(seed)+"\n"), public
}

func TestProblemsNameEveryBadSetting(t *testing.T) {
	_, pub := seedFile(t)
	s := Settings{
		NKey: write(t, "pub.nk", pub), Token: "t", // two kinds, and a public key for a seed
		Password: "p", // without a user
		Creds:    write(t, "x.creds", "not a creds file"),
		TLSCA:    write(t, "ca.pem", "no pem"),
		TLSCert:  "/nonexistent/cert.pem",
	}
	errs := Problems(s)
	all := ""
	for _, e := range errs {
		all += e.Error() + "\n"
	}
	for _, want := range []string{"NKEY: set together with CREDS", "holds no nkey seed", "PASSWORD: set without USER", "CREDS: ", "no user JWT", "CA: ", "no PEM", "KEY: required with CERT"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

func Problems(s Settings) []error { return s.Problems(names) }

func TestGoodSettingsHaveOptions(t *testing.T) {
	seed, _ := seedFile(t)
	for _, s := range []Settings{{}, {NKey: seed}, {User: "u", Password: "p"}, {Token: "t"}, {User: "u", InboxPrefix: "_INBOX.private.svc"}} {
		if errs := Problems(s); len(errs) > 0 {
			t.Errorf("%+v: %v", s, errs)
		}
		opts, err := s.Options()
		if err != nil {
			t.Errorf("%+v: %v", s, err)
		}
		if s.HasCredentials() && len(opts) == 0 {
			t.Errorf("%+v: no options", s)
		}
	}
	if errs := Problems(Settings{InboxPrefix: "_INBOX.>"}); len(errs) != 1 {
		t.Errorf("wildcard inbox prefix: %v", errs)
	}
}

func TestLoadContext(t *testing.T) {
	cfg := t.TempDir()
	home := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfg, "HOME": home}
	getenv := func(k string) string { return env[k] }
	dir := filepath.Join(cfg, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The fields as natscli v0.5.0 writes them (and some Chorus ignores).
	doc := `{"description":"","url":"nats://a:4222","token":"","user":"svc","password":"pw","creds":"","nkey":"~/keys/svc.nk","cert":"","key":"","ca":"/etc/ca.pem","nsc":"","jetstream_domain":"","inbox_prefix":"_INBOX.private.svc","color_scheme":""}`
	if err := os.WriteFile(filepath.Join(dir, "prod.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadContext("prod", getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "nats://a:4222" || c.User != "svc" || c.Password != "pw" || c.NKey != filepath.Join(home, "keys/svc.nk") || c.CA != "/etc/ca.pem" || c.InboxPrefix != "_INBOX.private.svc" {
		t.Fatalf("got %+v", c)
	}
	if s := c.Settings(); s.User != "svc" || s.TLSCA != "/etc/ca.pem" {
		t.Fatalf("settings %+v", s)
	}
	if _, err := LoadContext("missing", getenv); err == nil {
		t.Fatal("a missing context loaded")
	}
	if _, err := LoadContext("../prod", getenv); err == nil {
		t.Fatal("a path for a name was accepted")
	}
	delete(env, "XDG_CONFIG_HOME")
	if p, _ := ContextPath("x", getenv); p != filepath.Join(home, ".config", "nats", "context", "x.json") {
		t.Fatalf("path %s", p)
	}
	if err := os.WriteFile(filepath.Join(dir, "nsc.json"), []byte(`{"creds":"nsc://op/acc/user"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env["XDG_CONFIG_HOME"] = cfg
	if _, err := LoadContext("nsc", getenv); err == nil || !strings.Contains(err.Error(), "only file paths") {
		t.Fatalf("nsc:// creds: %v", err)
	}
}
