package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/chorusdb/chorus/messages"
)

// startTokenNATS runs a nats-server that wants the token s3cret.
func startTokenNATS(t *testing.T) (url, withToken string) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Authorization: "s3cret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(s.Shutdown)
	url = s.ClientURL()
	return url, strings.Replace(url, "nats://", "nats://s3cret@", 1)
}

func TestCredentialsFromFlagsEnvAndContext(t *testing.T) {
	url, withToken := startTokenNATS(t)
	respond(t, withToken, "db.request", reply(messages.WriteSuccess(7, "server0", "").Encode()))
	stmt := "INSERT INTO t (id) VALUES (1)"

	r := chorus(t, nil, "", "--nats", url, "exec", stmt)
	r.want(t, exitFail)
	if !strings.Contains(r.stderr, "Authorization Violation") {
		t.Fatalf("without credentials: %s", r.stderr)
	}
	chorus(t, nil, "", "--nats", url, "--token", "s3cret", "exec", stmt).want(t, exitOK)
	chorus(t, nil, "", "exec", "--nats", url, "--token", "s3cret", stmt).want(t, exitOK) // after the command too
	chorus(t, map[string]string{"CHORUS_NATS_URL": url, "CHORUS_NATS_TOKEN": "s3cret"}, "", "exec", stmt).want(t, exitOK)
	chorus(t, nil, "", "--nats", withToken, "exec", stmt).want(t, exitOK)

	cfg := t.TempDir()
	dir := filepath.Join(cfg, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := `{"description":"test","url":"` + url + `","token":"s3cret","user":"","password":"","creds":"","nkey":"","cert":"","key":"","ca":""}`
	if err := os.WriteFile(filepath.Join(dir, "test.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"XDG_CONFIG_HOME": cfg}
	chorus(t, vars, "", "--context", "test", "exec", stmt).want(t, exitOK)
	// Explicit credentials replace the context's.
	r = chorus(t, vars, "", "--context", "test", "--token", "wrong", "exec", stmt)
	r.want(t, exitFail)
	r = chorus(t, vars, "", "--context", "missing", "exec", stmt)
	r.want(t, exitUsage)
	if !strings.Contains(r.stderr, "missing") {
		t.Fatalf("missing context: %s", r.stderr)
	}
}

func TestBadCredentialSettingsAreUsageErrors(t *testing.T) {
	r := chorus(t, nil, "", "--nkey", "/nonexistent/u.nk", "--token", "x", "--tls-cert", "/nonexistent/c.pem", "status")
	r.want(t, exitUsage)
	for _, want := range []string{"--nkey", "--token", "--tls-key"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not name %s:\n%s", want, r.stderr)
		}
	}
	r = chorus(t, nil, "", "help", "exec")
	for _, want := range []string{"--creds", "--nkey", "--user", "--password", "--token", "--tls-ca", "--tls-cert", "--tls-key", "--context"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help does not list %s", want)
		}
	}
}
