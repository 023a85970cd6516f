package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
)

// cluster is what the fake leader reports: a member of each state, one
// joining while it restores a snapshot, and an older leader's member
// without a state.
var cluster = messages.Status{
	Leader: "server0", Epoch: 4, FirstSeq: 901, LastSeq: 1500, Committed: 1499, SnapshotSeq: 1200,
	Workers: []messages.StatusWorker{
		{ID: "server0", State: messages.StateLive, Live: true, Applied: 1500, LastSeen: "0s"},
		{ID: "server1", State: messages.StateOut, Applied: 1400, Lag: 100, LastSeen: "12.5s", Stalled: "cassandra unreachable"},
		{ID: "server2", State: messages.StateRemoved, Applied: 900, Lag: 600, LastSeen: "never (since this leader started)"},
		{ID: "server3", State: messages.StateJoining, Applied: 0, Lag: 1500, LastSeen: "250ms", ETA: "42s",
			Restoring: &messages.RestoreProgress{Seq: 1200, Bytes: 3 << 20, Total: 8 << 20, Rows: 51234}},
		{ID: "server4", Live: true, Applied: 1499, Lag: 1, LastSeen: "1s", ETA: "1s"}, // older leader: no state
	},
}

func TestWriteMembers(t *testing.T) {
	var b bytes.Buffer
	writeMembers(&b, cluster.Workers, true)
	want := "" +
		"WORKER   STATE    APPLIED  LAG   LAST SEEN                          ETA  RESTORE                                              STALLED\n" +
		"server0  live     1500     0     0s ago                             -    -\n" +
		"server1  out      1400     100   12.5s ago                          -    -                                                    cassandra unreachable\n" +
		"server2  removed  900      600   never (since this leader started)  -    -\n" +
		"server3  joining  0        1500  250ms ago                          42s  snapshot 1200: 3.0 MiB of 8.0 MiB (37%), 51234 rows\n" +
		"server4  live     1499     1     1s ago                             -    -\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	writeMembers(&b, nil, true)
	if b.String() != "no workers registered\n" {
		t.Fatalf("no members: %q", b.String())
	}
}

func TestWriteStatusShowsTheLogAndProgress(t *testing.T) {
	var b bytes.Buffer
	writeStatus(&b, cluster)
	head := "" +
		"leader:        server0\n" +
		"epoch:         4\n" +
		"first seq:     901\n" +
		"last seq:      1500\n" +
		"committed:     1499\n" +
		"snapshot seq:  1200\n" +
		"\n" +
		"WORKER   STATE    APPLIED  LAG   LAST SEEN                          ETA  RESTORE  "
	if !strings.HasPrefix(b.String(), head) || !strings.Contains(b.String(), "42s  snapshot 1200: 3.0 MiB of 8.0 MiB (37%), 51234 rows") {
		t.Fatalf("got:\n%s", b.String())
	}

	// Nobody joining or restoring: no progress columns.
	st := cluster
	st.Workers = []messages.StatusWorker{cluster.Workers[0], cluster.Workers[4]}
	b.Reset()
	writeStatus(&b, st)
	if !strings.Contains(b.String(), "\nWORKER   STATE  APPLIED  LAG  LAST SEEN  STALLED\nserver0  live   1500     0    0s ago\nserver4  live   1499     1    1s ago\n") {
		t.Fatalf("got:\n%s", b.String())
	}
}

func TestRestoreCell(t *testing.T) {
	cases := []struct {
		r    *messages.RestoreProgress
		want string
	}{
		{nil, "-"},
		{&messages.RestoreProgress{Seq: 7}, "snapshot 7: 0 B, 0 rows"},
		{&messages.RestoreProgress{Seq: 7, Bytes: 512, Total: 2048, Rows: 1}, "snapshot 7: 512 B of 2.0 KiB (25%), 1 row"},
		{&messages.RestoreProgress{Seq: 9, Bytes: 5 << 30, Total: 5 << 30, Rows: 10}, "snapshot 9: 5.0 GiB of 5.0 GiB (100%), 10 rows"},
		{&messages.RestoreProgress{Seq: 9, Bytes: 1536 << 30}, "snapshot 9: 1.5 TiB, 0 rows"},
	}
	for _, c := range cases {
		if got := restoreCell(c.r); got != c.want {
			t.Errorf("restoreCell(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestStatusOfAnOlderLeader(t *testing.T) {
	url := startNATS(t)
	// No state, no first or snapshot seq: live and out come from "live".
	respond(t, url, "db.status", reply([]byte(`{"leader":"server0","epoch":2,"last_seq":9,"committed":9,"workers":[`+
		`{"id":"server0","live":true,"applied":9,"lag":0,"last_seen":"1s"},{"id":"server1","live":false,"applied":3,"lag":6,"last_seen":"9s"}]}`)))
	r := chorus(t, nil, "", "--nats", url, "status")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "snapshot seq:  none\n") ||
		!strings.Contains(r.stdout, "server0  live   9        0    1s ago\nserver1  out    3        6    9s ago\n") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
}

func TestMembers(t *testing.T) {
	url := startNATS(t)
	raw, _ := json.Marshal(cluster)
	respond(t, url, "db.status", reply(raw))

	r := chorus(t, nil, "", "--nats", url, "members")
	r.want(t, exitOK)
	var want bytes.Buffer
	writeMembers(&want, cluster.Workers, true)
	if r.stdout != want.String() || r.stderr != "" {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}

	r = chorus(t, nil, "", "--nats", url, "members", "--json")
	r.want(t, exitOK)
	var ws []messages.StatusWorker
	if err := json.Unmarshal([]byte(r.stdout), &ws); err != nil || len(ws) != len(cluster.Workers) {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if ws[3].Restoring == nil || ws[3].Restoring.Rows != 51234 || ws[4].State != messages.StateLive {
		t.Fatalf("--json: %+v", ws)
	}
}

func TestMembersEmptyAndNoLeader(t *testing.T) {
	url := startNATS(t)
	r := chorus(t, nil, "", "--nats", url, "members")
	r.want(t, exitFail)
	if !strings.Contains(r.stderr, "no leader") || r.stdout != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}

	respond(t, url, "db.status", reply([]byte(`{"leader":"server0","workers":null}`)))
	r = chorus(t, nil, "", "--nats", url, "members", "--json")
	r.want(t, exitOK)
	if r.stdout != "[]\n" {
		t.Fatalf("--json: %q", r.stdout)
	}
}

func TestRemove(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.admin.remove", reply(messages.WriteSuccess(1501, "server0", "").Encode()))
	r := chorus(t, nil, "", "--nats", url, "remove", "server2")
	r.want(t, exitOK)
	if r.stdout != "removed server2 at seq 1501\n" || r.stderr != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if req := <-seen; req.stmt != "server2" {
		t.Fatalf("body %q", req.stmt)
	}
}

// The leader's refusals are printed as they are, exit 1, and not retried.
func TestRemoveRefused(t *testing.T) {
	for _, msg := range []string{
		`unknown member "server9"; members: server0, server1`,
		`"server0" is the last live member: removing it would leave no replica; start another worker first`,
		`member "server2" was already removed at seq 1501`,
	} {
		url := startNATS(t)
		seen := respond(t, url, "db.admin.remove", reply(messages.Failure(messages.CodeBadRequest, msg, "server0", "").Encode()))
		r := chorus(t, nil, "", "--nats", url, "remove", "server9")
		r.want(t, exitFail)
		if r.stderr != "ERROR BAD_REQUEST: "+msg+" (server0)\n" || r.stdout != "" {
			t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
		}
		<-seen
		select {
		case req := <-seen:
			t.Fatalf("a refusal was retried: %+v", req)
		default:
		}
	}
}

func TestAdminNoLeader(t *testing.T) {
	url := startNATS(t)
	for _, args := range [][]string{{"remove", "server1"}, {"snapshot"}} {
		r := chorus(t, nil, "", append([]string{"--nats", url}, args...)...)
		r.want(t, exitFail)
		subject := "db.admin." + args[0]
		for _, want := range []string{"admin operations need the admin role's credentials (e.g. --nkey .data/creds/admin.nk locally)", "no leader answered on " + subject} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr %q lacks %q", args[0], r.stderr, want)
			}
		}
	}
}

// On the shipped configuration, remove and snapshot need the admin role:
// NATS refuses them to clients and workers, at once.
func TestAdminNeedsTheAdminRole(t *testing.T) {
	sn := chorustest.ShippedNATS(t)
	leader := sn.Conn(t, chorustest.AsWorker)
	respondOn(t, leader.Conn, "db.admin.remove", reply(messages.WriteSuccess(77, "server0", "").Encode()))
	respondOn(t, leader.Conn, "db.admin.snapshot", reply([]byte(`{"status":"SUCCESS","seq":78,"server":"server1"}`)))
	leader.RequireAllowed(t)

	for _, args := range [][]string{{"remove", "server1"}, {"snapshot"}} {
		for _, who := range [][]string{nil, {"--nkey", sn.WorkerNKey}} {
			start := time.Now()
			r := chorus(t, nil, "", append(append([]string{"--nats", sn.URL}, who...), args...)...)
			r.want(t, exitFail)
			for _, want := range []string{"admin operations need the admin role's credentials", "no leader answered on db.admin." + args[0],
				"NATS refused to publish it", "Permissions Violation"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%v %v: stderr %q lacks %q", who, args, r.stderr, want)
				}
			}
			if strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
				t.Errorf("%v %v: stdout %q stderr %q", who, args, r.stdout, r.stderr)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%v %v: the refusal took %v", who, args, d)
			}
		}
	}

	admin := []string{"--nats", sn.URL, "--nkey", sn.AdminNKey}
	r := chorus(t, nil, "", append(admin, "remove", "server1")...)
	r.want(t, exitOK)
	if r.stdout != "removed server1 at seq 77\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	r = chorus(t, map[string]string{"CHORUS_NATS_NKEY": sn.AdminNKey, "CHORUS_NATS_URL": sn.URL}, "", "snapshot")
	r.want(t, exitOK)
	if r.stdout != "snapshot at seq 78 stored by server1\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestSnapshot(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "prod.admin.snapshot", reply([]byte(`{"status":"SUCCESS","seq":1200,"server":"server1"}`)))
	r := chorus(t, nil, "", "--nats", url, "--prefix", "prod", "snapshot")
	r.want(t, exitOK)
	if r.stdout != "snapshot at seq 1200 stored by server1\n" || r.stderr != "" {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if req := <-seen; req.stmt != "" {
		t.Fatalf("body %q", req.stmt)
	}
}

func TestSnapshotErrors(t *testing.T) {
	url := startNATS(t)
	respond(t, url, "db.admin.snapshot", reply(nil)) // never answers
	r := chorus(t, nil, "", "--nats", url, "snapshot", "--timeout", "300ms")
	r.want(t, exitFail)
	for _, want := range []string{"timeout", "db.admin.snapshot", "admin role's credentials", "a snapshot under way goes on"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}

	url2 := startNATS(t)
	msg := "server1 did not report the snapshot at seq 9 within 1m0s; retry"
	respond(t, url2, "db.admin.snapshot", reply(messages.Failure(messages.CodeUnavailable, msg, "server0", "").Encode()))
	r = chorus(t, nil, "", "--nats", url2, "snapshot")
	r.want(t, exitFail)
	if r.stderr != "ERROR UNAVAILABLE: "+msg+" (server0)\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestAdminUsage(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substrings expected
		stderr string
	}{
		{"help lists them", []string{"help"}, 0, "  members   list the cluster's members", ""},
		{"help remove", []string{"help", "remove"}, 0, "removed <id> at seq <n>", ""},
		{"help snapshot", []string{"help", "snapshot"}, 0, "(default 2m0s)", ""},
		{"help members", []string{"help", "members"}, 0, "--json", ""},
		{"remove -h", []string{"remove", "-h"}, 0, "--nkey", ""},
		{"remove no id", []string{"remove"}, 2, "", "give exactly one member id"},
		{"remove two ids", []string{"remove", "a", "b"}, 2, "", "give exactly one member id"},
		{"remove bad id", []string{"remove", "a.b"}, 2, "", `invalid member id "a.b"`},
		{"remove bad timeout", []string{"remove", "--timeout", "0s", "a"}, 2, "", "--timeout"},
		{"snapshot args", []string{"snapshot", "now"}, 2, "", "unexpected arguments"},
		{"snapshot bad timeout", []string{"snapshot", "--timeout", "-1s"}, 2, "", "--timeout"},
		{"members args", []string{"members", "all"}, 2, "", "unexpected arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := chorus(t, nil, "", c.args...)
			r.want(t, c.code)
			if !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant %q / %q", r.stdout, r.stderr, c.stdout, c.stderr)
			}
		})
	}
	r := chorus(t, nil, "", "help")
	for _, name := range []string{"remove", "snapshot"} {
		if !strings.Contains(r.stdout, "  "+name+" ") || !strings.Contains(r.stdout, "chorus --nkey .data/creds/admin.nk "+name) {
			t.Errorf("help does not list %s with an example", name)
		}
	}
}
