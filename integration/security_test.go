package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/cli"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// The attacks of issue 9, each against the shipped nats.conf (its roles,
// accounts and no_auth_user) with a three-worker cluster: each is refused by
// NATS with a permissions violation, nothing changes in any keyspace or in
// the log (the log grows by exactly the one legitimate write that follows
// the attack, and every keyspace by its row), the lease stays with the
// leader, and the cluster keeps serving.

type secEnv struct {
	*env
	sn   *chorustest.SecureNATS
	c    *chorustest.Cluster
	next int // key of the next legitimate write
}

func newSecEnv(t *testing.T, opts ...chorustest.SecureOption) *secEnv {
	sn := chorustest.ShippedNATS(t, opts...)
	c := chorustest.StartSecureCluster(t, sn, 3)
	e := newEnvOn(t, c.Conn(), c.Prefix, replicas{IDs: c.IDs, Session: c.Session, Keyspace: c.Keyspace, Worker: c.Worker})
	e.exec("", "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)")
	s := &secEnv{env: e, sn: sn, c: c, next: 1}
	s.exec("", "INSERT INTO grade (id, events) VALUES (0, [0])")
	return s
}

// snapshot is everything an attack must leave alone.
type snapshot struct {
	log  chorustest.LogState
	data map[string][]string // keyspace: its tables, then its rows of grade as JSON
}

func (s *secEnv) snapshot() snapshot {
	s.t.Helper()
	snap := snapshot{log: s.sn.LogState(s.t), data: map[string][]string{}}
	for _, id := range s.c.IDs {
		ks := s.c.Keyspace(id)
		var tables []string
		it := s.c.Session.Query(`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`, ks).Iter()
		for name := ""; it.Scan(&name); {
			tables = append(tables, "table "+name)
		}
		if err := it.Close(); err != nil {
			s.t.Fatal(err)
		}
		var rows []string
		it = s.c.Session.Query(fmt.Sprintf(`SELECT JSON * FROM "%s".grade`, ks)).Iter()
		for row := ""; it.Scan(&row); {
			rows = append(rows, row)
		}
		if err := it.Close(); err != nil {
			s.t.Fatal(err)
		}
		slices.Sort(tables)
		slices.Sort(rows)
		snap.data[ks] = append(tables, rows...)
	}
	return snap
}

// requireUntouched writes one row through the cluster and checks that the
// log and every keyspace differ from before by that write only.
func (s *secEnv) requireUntouched(before snapshot) {
	s.t.Helper()
	k := s.next
	s.next++
	stmt := fmt.Sprintf("INSERT INTO grade (id, events) VALUES (%d, [%d])", k, k)
	r := s.exec(s.randomServer(), stmt)
	after := s.snapshot()

	b, a := before.log, after.log
	if a.Stream.FirstSeq != b.Stream.FirstSeq || len(a.Entries) != len(b.Entries)+1 || r.Seq != b.Stream.LastSeq+1 {
		s.t.Fatalf("log: before first %d last %d (%d entries), after first %d last %d (%d entries), the write at %d: want exactly the one write appended",
			b.Stream.FirstSeq, b.Stream.LastSeq, len(b.Entries), a.Stream.FirstSeq, a.Stream.LastSeq, len(a.Entries), r.Seq)
	}
	for i := range b.Entries {
		if !reflect.DeepEqual(a.Entries[i], b.Entries[i]) {
			s.t.Fatalf("log entry %d changed: before %+v, after %+v", i, b.Entries[i], a.Entries[i])
		}
	}
	last := a.Entries[len(a.Entries)-1]
	if last.Kind != messages.OrderWrite || len(last.Writes) != 1 || last.Writes[0].Stmt != stmt {
		s.t.Fatalf("the last log entry is not the legitimate write: %+v", last)
	}
	if a.Holder != b.Holder || !strings.HasPrefix(a.Holder, "server") || a.Lease.Msgs != 1 {
		s.t.Fatalf("lease: before %q, after %q (%d entries)", b.Holder, a.Holder, a.Lease.Msgs)
	}
	row := fmt.Sprintf(`{"id": %d, "events": [%d]}`, k, k)
	for ks, was := range before.data {
		want := append(slices.Clone(was), row)
		slices.Sort(want[countTables(want):])
		if got := after.data[ks]; !slices.Equal(got, want) {
			s.t.Fatalf("keyspace %s:\nbefore %q\nafter  %q\nwant   %q", ks, was, got, want)
		}
	}
}

func countTables(lines []string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "table ") {
			n++
		}
	}
	return n
}

func (s *secEnv) status() messages.Status {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.cl.Status(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// attack runs one attack as an anonymous connection (the client role) and
// checks the refusal and the aftermath.
func (s *secEnv) attack(name string, as chorustest.Role, do func(t *testing.T, p *chorustest.Probe)) {
	s.t.Run(name, func(t *testing.T) {
		outer := s.t
		s.t = t
		defer func() { s.t = outer }()
		before := s.snapshot()
		do(t, s.sn.Conn(t, as))
		s.requireUntouched(before)
	})
}

func TestShippedConfigRefusesAttacks(t *testing.T) {
	s := newSecEnv(t)
	subj := messages.NewSubjects(chorustest.SecurePrefix)
	stream, bucket := subj.StreamName(), subj.LeaseBucket()

	s.attack("forged ORDER on the log", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		st := s.status()
		o := messages.Order{Epoch: st.Epoch, Seq: st.LastSeq + 1, Kind: messages.OrderWrite, Timestamp: time.Now().UnixMicro(), Leader: st.Leader,
			Writes: []messages.Write{{RequestID: "forged", Stmt: "INSERT INTO grade (id, events) VALUES (666, [666])", Origin: "server0"}}}
		data := messages.MustEncode(&o)
		if err := p.Publish(subj.Order(), data); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, subj.Order())
		// And as the leader appends: a JetStream publish expecting the last sequence.
		js, err := jetstream.New(p.Conn)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, subj.Order(), data, jetstream.WithExpectLastSequence(st.LastSeq)); err == nil {
			t.Fatal("a forged append was acknowledged")
		}
		p.RequireViolation(t, subj.Order())
	})

	s.attack("reading the log", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		if _, err := p.SubscribeSync(subj.Order()); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, subj.Order())
		if _, err := p.SubscribeSync("db.>"); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, "db.>")
		js, err := jetstream.New(p.Conn)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{}); err == nil {
			t.Fatal("an anonymous consumer of the log was created")
		}
		p.RequireViolation(t, "$JS.API.")
		for _, api := range []string{"$JS.API.STREAM.MSG.GET." + stream, "$JS.API.DIRECT.GET." + stream, "$JS.API.CONSUMER.CREATE." + stream} {
			if err := p.PublishRequest(api, nats.NewInbox(), []byte(`{"seq":1}`)); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, api)
		}
	})

	s.attack("purging and deleting the log and the lease bucket", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		for _, api := range []string{
			"$JS.API.STREAM.PURGE." + stream, "$JS.API.STREAM.DELETE." + stream, "$JS.API.STREAM.UPDATE." + stream,
			"$JS.API.STREAM.MSG.DELETE." + stream,
			"$JS.API.STREAM.PURGE.KV_" + bucket, "$JS.API.STREAM.DELETE.KV_" + bucket,
		} {
			if _, err := p.Request(api, nil, time.Second); err == nil {
				t.Fatalf("%s answered", api)
			}
			p.RequireViolation(t, api)
		}
	})

	s.attack("forged ACK", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		st := s.status()
		for _, id := range s.c.IDs {
			a := messages.Ack{Worker: id, Epoch: st.Epoch, Applied: st.LastSeq + 1000,
				Outcomes: []messages.Outcome{{Seq: st.LastSeq + 1, Code: messages.CodeOK}}}
			if err := p.Publish(subj.Ack(), messages.MustEncode(&a)); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, subj.Ack())
		}
	})

	s.attack("forged FORWARD", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		f := messages.Forward{RequestID: "forged", Stmt: "DROP TABLE grade", Origin: "server0"}
		if _, err := p.Request(subj.Forward(), messages.MustEncode(&f), time.Second); err == nil {
			t.Fatal("a forged FORWARD was accepted")
		}
		p.RequireViolation(t, subj.Forward())
	})

	s.attack("forged heartbeat", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		// A member that never applies would stall every write until the ACK
		// timeout; one claiming progress could hide a lagging replica.
		for _, h := range []messages.Heartbeat{{Worker: "intruder"}, {Worker: "server0", Applied: 1 << 40}} {
			if err := p.Publish(subj.Heartbeat(), messages.MustEncode(&h)); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, subj.Heartbeat())
		}
		for _, w := range s.status().Workers {
			if w.ID == "intruder" {
				t.Fatal("the intruder became a member")
			}
		}
	})

	s.attack("writing the lease bucket", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		key := "$KV." + bucket + ".leader"
		if err := p.Publish(key, []byte("intruder/0")); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, key)
		del := nats.NewMsg(key)
		del.Header.Set("KV-Operation", "PURGE")
		if err := p.PublishMsg(del); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, key)
		js, err := jetstream.New(p.Conn)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := js.KeyValue(ctx, bucket); err == nil {
			t.Fatal("an anonymous connection opened the lease bucket")
		}
		p.RequireViolation(t, "$JS.API.STREAM.INFO.KV_"+bucket)
	})

	s.attack("taking the workers' requests", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		if _, err := p.QueueSubscribeSync(subj.Request(), messages.QueueGroup); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, subj.Request())
		if _, err := p.SubscribeSync(subj.RequestTo("server0")); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, subj.RequestTo("server0"))
		if _, err := p.SubscribeSync(subj.Status()); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, subj.Status())
		if _, err := p.SubscribeSync("_INBOX.private.billing.>"); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, "_INBOX.private.billing.>")
	})

	s.attack("other internal subjects", chorustest.Anonymous, func(t *testing.T, p *chorustest.Probe) {
		for _, subject := range []string{"db.changes.grade", "db.leader.anything", "$JS.API.INFO", "$JS.API.STREAM.CREATE.MINE", "$O.CHORUS_db_SNAPSHOTS.x", "$SYS.REQ.SERVER.PING"} {
			if err := p.Publish(subject, []byte("x")); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, subject)
		}
	})

	// What a worker credential cannot do: delete the log or the lease, ask
	// for admin operations, or touch anything outside the cluster. (It can
	// purge the log: the leader trims it; and update the log, the lease
	// and the snapshot bucket: to CHORUS_LOG_REPLICAS.)
	s.attack("a worker credential's limits", chorustest.AsWorker, func(t *testing.T, p *chorustest.Probe) {
		for _, api := range []string{
			"$JS.API.STREAM.DELETE." + stream, subj.Admin("remove"), subj.Admin("snapshot"),
			"$JS.API.STREAM.DELETE.KV_" + bucket, "$JS.API.STREAM.CREATE.OTHER", "$JS.API.STREAM.UPDATE.OTHER", "$JS.API.STREAM.NAMES",
			"$KV.OTHER.key", "other.subject",
		} {
			if err := p.PublishRequest(api, nats.NewInbox(), nil); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, api)
		}
		if _, err := p.SubscribeSync("other.>"); err != nil {
			t.Fatal(err)
		}
		p.RequireViolation(t, "other.>")
	})

	// Defence in depth: a FORWARD from a worker credential that fails the
	// receiving worker's checks is dropped by the leader (check.Forward),
	// never ordered: no Accepted comes back, and nothing changes.
	s.attack("a worker credential's forged FORWARD", chorustest.AsWorker, func(t *testing.T, p *chorustest.Probe) {
		other := s.c.Keyspace("server1")
		for i, f := range []messages.Forward{
			{Stmt: "INSERT INTO " + other + ".grade (id, events) VALUES (777, [777])"},
			{Stmt: "SELECT * FROM grade"},
			{Stmt: "DELETE FROM chorus_state WHERE id = 0"},
			{Stmt: "INSERT INTO grade (id, events) VALUES (778, [778])", Reply: subj.Order()},
			{Stmt: "INSERT INTO grade (id, events) VALUES (779, [779])", Origin: "a.b"},
			{Stmt: "DROP KEYSPACE " + other},
		} {
			f.RequestID = fmt.Sprintf("forged-%d", i)
			if f.Origin == "" {
				f.Origin = "server0"
			}
			if m, err := p.Request(subj.Forward(), messages.MustEncode(&f), time.Second); err == nil {
				t.Fatalf("the leader accepted %+v: %x", f, m.Data)
			}
		}
		p.RequireAllowed(t)
	})

	// make bench's account is a sandbox: what its credential does there
	// never reaches the cluster.
	s.attack("the bench account", chorustest.AsBench, func(t *testing.T, p *chorustest.Probe) {
		js, err := jetstream.New(p.Conn)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.Stream(ctx, stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("the bench account sees the cluster's log: %v", err)
		}
		if err := p.Publish(subj.Order(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		p.RequireAllowed(t)
	})
}

// The client role, which connections without credentials get, does
// everything the README shows: chorus exec, query and status, nats request
// on db.request and db.request.<ID>, and the micro discovery.
func TestShippedConfigClientRole(t *testing.T) {
	s := newSecEnv(t)
	p := s.sn.Conn(t, chorustest.Anonymous)
	cl := client.New(p.Conn, client.WithTimeout(60*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, stmt := range []string{
		"CREATE TABLE readme (id int PRIMARY KEY, events list<int>)",
		"INSERT INTO readme (id, events) VALUES (1, [1])",
	} {
		if _, err := cl.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := cl.Exec(ctx, "UPDATE readme SET events = events + [2] WHERE id = 1", client.WithServer("server1")); err != nil {
		t.Fatal(err)
	}
	rows, err := cl.Query(ctx, "SELECT * FROM readme")
	if err != nil || len(rows.Rows) != 1 || fmt.Sprint(rows.Rows[0]["events"]) != "[1 2]" {
		t.Fatalf("query: %v %v", rows, err)
	}
	if st, err := cl.Status(ctx); err != nil || st.Leader == "" {
		t.Fatalf("status: %+v %v", st, err)
	}
	// nats request db.request "<cql>", as the nats CLI sends it.
	for _, subject := range []string{"db.request", "db.request.server2"} {
		m, err := p.Request(subject, []byte("SELECT * FROM readme"), 10*time.Second)
		if err != nil || !strings.Contains(string(m.Data), `"status":"SUCCESS"`) {
			t.Fatalf("nats request %s: %v %s", subject, err, msgData(m))
		}
	}
	if m, err := p.Request("db.status", nil, 10*time.Second); err != nil || !strings.Contains(string(m.Data), `"leader"`) {
		t.Fatalf("db.status: %v %s", err, msgData(m))
	}
	// The micro discovery is allowed (the workers answer it; a subject no
	// instance serves says "no responders", not a permissions violation;
	// TestMicroDiscoveryAsClient reads the answers).
	for _, subject := range []string{"$SRV.PING", "$SRV.INFO", "$SRV.STATS", "$SRV.PING.chorus", "$SRV.INFO.chorus", "$SRV.STATS.chorus.server0"} {
		if _, err := p.Request(subject, nil, 2*time.Second); err != nil && !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	p.RequireAllowed(t)

	// Clients share one role: each can read the others' replies, except
	// under _INBOX.private.> (for users with a private inbox prefix).
	other := s.sn.Conn(t, chorustest.Anonymous)
	sniff, err := other.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	other.RequireAllowed(t)
	w := s.sn.Conn(t, chorustest.AsWorker)
	for _, inbox := range []string{"_INBOX.private.billing.1", "_INBOX.someone.1"} {
		if err := w.Publish(inbox, []byte(inbox)); err != nil {
			t.Fatal(err)
		}
	}
	w.RequireAllowed(t)
	// The private reply was published first: had it been delivered, it
	// would come before the other. Replies of the cluster's own traffic
	// (JetStream, heartbeats of consumers) may come in between.
	for {
		m, err := sniff.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("another client never saw the reply to _INBOX.someone.1: %v", err)
		}
		if m.Subject == "_INBOX.private.billing.1" {
			t.Fatal("another client received a reply under _INBOX.private.>")
		}
		if m.Subject == "_INBOX.someone.1" {
			break
		}
	}

	// The chorus CLI with no credentials.
	for _, args := range [][]string{
		{"exec", "INSERT INTO readme (id, events) VALUES (2, [])"},
		{"query", "SELECT * FROM readme WHERE id = 2"},
		{"status"},
	} {
		var stdout, stderr bytes.Buffer
		if code := cli.Main(append([]string{"--nats", s.sn.URL}, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("chorus %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		}
	}
}

func msgSubject(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return m.Subject
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// The whole write path over TLS, with certificates the test generates: the
// server requires client certificates; workers, the Go client and the CLI
// present them; connections without one are refused.
func TestShippedConfigOverTLS(t *testing.T) {
	s := newSecEnv(t, chorustest.WithTLS())
	if !strings.HasPrefix(s.sn.URL, "tls://") {
		t.Fatalf("URL %s", s.sn.URL)
	}
	s.update("", 1)
	s.update("server2", 1)
	s.requireConverged(1, []int64{1, 2}, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := s.cl.Query(ctx, "SELECT * FROM grade WHERE id = 1", client.WithServer("server1"))
	if err != nil || len(rows.Rows) != 1 || fmt.Sprint(rows.Rows[0]["events"]) != "[1 2]" {
		t.Fatalf("query: %v %v", rows, err)
	}

	tf := s.sn.TLS
	var stdout, stderr bytes.Buffer
	args := []string{"--nats", s.sn.URL, "--tls-ca", tf.CA, "--tls-cert", tf.ClientCert, "--tls-key", tf.ClientKey,
		"exec", "UPDATE grade SET events = events + [3] WHERE id = 1"}
	if code := cli.Main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("chorus exec over TLS: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	s.requireConverged(1, []int64{1, 2, 3}, true)

	if nc, err := nats.Connect(s.sn.URL, nats.RootCAs(tf.CA)); err == nil {
		nc.Close()
		t.Fatal("a connection without a client certificate was accepted")
	}
	plain := strings.Replace(s.sn.URL, "tls://", "nats://", 1)
	if nc, err := nats.Connect(plain); err == nil {
		nc.Close()
		t.Fatal("a plaintext connection was accepted")
	}
}
