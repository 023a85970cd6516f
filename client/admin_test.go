package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

func TestRemove(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.admin.remove", always(messages.WriteSuccess(12, "server0", "").Encode()))
	c := newClient(t, url)

	seq, err := c.Remove(context.Background(), "server2")
	if err != nil || seq != 12 {
		t.Fatalf("Remove = %d, %v", seq, err)
	}
	if got := rs.requests(); len(got) != 1 || got[0].stmt != "server2" {
		t.Fatalf("requests %+v", got)
	}
}

func TestRemoveRefused(t *testing.T) {
	url := startNATS(t)
	msg := `unknown member "nope"; members: server0, server1`
	rs := respond(t, url, "db.admin.remove", always(messages.Failure(messages.CodeBadRequest, msg, "server0", "").Encode()))
	c := newClient(t, url)

	_, err := c.Remove(context.Background(), "nope")
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != messages.CodeBadRequest || ce.Message != msg || ce.Server != "server0" {
		t.Fatalf("err %v", err)
	}
	if rs.count() != 1 {
		t.Fatalf("an ERROR reply was retried: %d requests", rs.count())
	}

	if _, err := c.Remove(context.Background(), "a.b"); err == nil || !strings.Contains(err.Error(), "invalid member id") {
		t.Fatalf("bad id: %v", err)
	}
	if rs.count() != 1 {
		t.Fatal("a bad id was sent")
	}
}

func TestAdminNoLeader(t *testing.T) {
	c := newClient(t, startNATS(t))
	start := time.Now()
	_, err := c.Remove(context.Background(), "server1", WithTimeout(20*time.Second))
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{adminHint, "no leader answered on db.admin.remove"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("no responders took %v", d)
	}
}

func TestSnapshot(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "prod.admin.snapshot", always([]byte(`{"status":"SUCCESS","seq":40,"server":"server2"}`)))
	c := newClient(t, url, WithPrefix("prod"))

	seq, by, err := c.Snapshot(context.Background())
	if err != nil || seq != 40 || by != "server2" {
		t.Fatalf("Snapshot = %d, %q, %v", seq, by, err)
	}
	if got := rs.requests(); len(got) != 1 || got[0].stmt != "" {
		t.Fatalf("requests %+v", got)
	}
}

func TestSnapshotTimeout(t *testing.T) {
	url := startNATS(t)
	rs := respond(t, url, "db.admin.snapshot", always(nil))
	c := newClient(t, url)

	_, _, err := c.Snapshot(context.Background(), WithTimeout(300*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"db.admin.snapshot", adminHint, "no leader answered"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if rs.count() != 1 {
		t.Fatalf("%d requests: an admin request is sent once", rs.count())
	}

	// The leader's own time limit comes back as an *Error.
	url2 := startNATS(t)
	respond(t, url2, "db.admin.snapshot", always(messages.Failure(messages.CodeUnavailable, "server1 did not report the snapshot at seq 9 within 1m0s; retry", "server0", "").Encode()))
	_, _, err = newClient(t, url2).Snapshot(context.Background())
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != messages.CodeUnavailable {
		t.Fatalf("err %v", err)
	}
}

func TestAdminBadReply(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "db.admin.snapshot", always([]byte("oops")))
	_, _, err := newClient(t, url).Snapshot(context.Background())
	if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "db.admin.snapshot") {
		t.Fatalf("err %v", err)
	}
}

// On the shipped configuration, only the admin role may publish the admin
// subjects; the refusal is reported at once, not after the timeout.
func TestAdminNeedsTheAdminRole(t *testing.T) {
	sn := chorustest.ShippedNATS(t)
	leader := sn.Conn(t, chorustest.AsWorker)
	_, err := leader.Subscribe("db.admin.remove", func(m *nats.Msg) {
		m.Respond(messages.WriteSuccess(5, "server0", "").Encode())
	})
	if err != nil {
		t.Fatal(err)
	}
	leader.RequireAllowed(t)

	for _, role := range []chorustest.Role{chorustest.Anonymous, chorustest.AsWorker} {
		c := New(sn.Conn(t, role).Conn)
		start := time.Now()
		_, err := c.Remove(context.Background(), "server1", WithTimeout(20*time.Second))
		if !errors.Is(err, ErrPermission) || !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("role %d: err %v", role, err)
		}
		for _, want := range []string{adminHint, "no leader answered on db.admin.remove", "NATS refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("role %d: %q does not say %q", role, err, want)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("role %d: the refusal took %v", role, d)
		}
	}

	c := New(sn.Conn(t, chorustest.AsAdmin).Conn)
	if seq, err := c.Remove(context.Background(), "server1"); err != nil || seq != 5 {
		t.Fatalf("admin: %d, %v", seq, err)
	}
}

func TestMembers(t *testing.T) {
	url := startNATS(t)
	st := messages.Status{Leader: "server0", Workers: []messages.StatusWorker{
		{ID: "server0", Live: true, Applied: 9},
		{ID: "server1", Applied: 3},
		{ID: "server2", State: messages.StateJoining, Applied: 1, ETA: "4s"},
	}}
	raw, _ := json.Marshal(st)
	respond(t, url, "db.status", always(raw))

	ws, err := newClient(t, url).Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, w := range ws {
		states = append(states, w.ID+"="+w.State)
	}
	if got := strings.Join(states, " "); got != "server0=live server1=out server2=joining" {
		t.Fatalf("members %s", got)
	}
}
