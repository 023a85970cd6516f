package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/cli"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// watcher collects what one subscriber of the feed saw, in arrival order.
type watcher struct {
	mu   sync.Mutex
	seen []messages.Change
}

func (w *watcher) add(ch messages.Change) error {
	w.mu.Lock()
	w.seen = append(w.seen, ch)
	w.mu.Unlock()
	return nil
}

func (w *watcher) changes() []messages.Change {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]messages.Change(nil), w.seen...)
}

func (w *watcher) last() (messages.Change, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return messages.Change{}, false
	}
	return w.seen[len(w.seen)-1], true
}

// watch runs cl.Watch in the background until the test ends or stop.
func watch(t *testing.T, cl *client.Client, table string, from uint64, w *watcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Watch(ctx, table, from, w.add) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch %q from %d: %v", table, from, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// write is one write the test sent and what its client was told.
type write struct {
	id   string
	stmt string
	res  client.Result
	err  error
}

// The feed shows every committed write exactly once (after dedup by key),
// in order, and no failed write, across a leader failover and a
// subscriber that stops midway and resumes from the last seq it saw.
func TestChangeFeed(t *testing.T) {
	c := chorustest.StartCluster(t, 3)
	nc := c.Conn()
	cl := client.New(nc, client.WithPrefix(c.Prefix), client.WithTimeout(90*time.Second), client.WithAttemptTimeout(20*time.Second))
	ctx := context.Background()

	// A plain NATS subscriber sees the same changes as readable JSON.
	raw := make(chan *nats.Msg, 1<<16)
	sub, err := nc.ChanSubscribe(c.Prefix+".changes.>", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	var all, resumed watcher
	watch(t, cl, "", 1, &all)
	stopFirst := watch(t, cl, "", 1, &resumed)

	l := startFeedLoad(t, cl, 4, 60)
	<-l.half
	// Hold the feed back (the changes stream takes no more changes), so
	// the leader commits writes it cannot publish; then stop it, and stop
	// one subscriber. The next leader must publish what it left.
	leader := leaderOf(t, cl)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj := messages.NewSubjects(c.Prefix)
	held := feed.StreamConfig(subj, 1, 0)
	held.Subjects = []string{c.Prefix + ".held.>"}
	held.RePublish.Source = held.Subjects[0]
	if _, err := js.UpdateStream(ctx, held); err != nil {
		t.Fatalf("holding the feed back: %v", err)
	}
	atHold := l.committed()
	chorustest.Eventually(t, converge, func() error {
		if n := l.committed() - atHold; n < 20 {
			return fmt.Errorf("%d writes committed since the feed was held back", n)
		}
		return nil
	})
	stopFirst()
	lastPublished, _ := all.last()
	c.Stop(leader)
	behind := l.committedAfter(lastPublished.Key())
	t.Logf("stopped the leader %s with %d committed writes after the last change published (%s)", leader, behind, lastPublished.Key())
	if behind == 0 {
		t.Fatal("the leader left no committed write unpublished: the test does not show the next leader publishing them")
	}
	if _, err := js.UpdateStream(ctx, feed.StreamConfig(subj, 1, 0)); err != nil {
		t.Fatalf("letting the feed go on: %v", err)
	}
	c.WaitLeader(30 * time.Second)
	c.Start(leader)
	last, ok := resumed.last()
	from := uint64(1)
	if ok {
		from = last.Seq
	}
	t.Logf("the stopped subscriber had seen %d changes; resuming from seq %d", len(resumed.changes()), from)
	watch(t, cl, "", from, &resumed)
	want, failed := l.wait()
	checkWatchers(t, want, failed, map[string]*watcher{"continuous": &all, "resumed": &resumed})

	// The plain subscriber: readable JSON, in order (core NATS may drop
	// for a slow consumer, so it is checked for order and content only).
	var plain []messages.Change
	for len(raw) > 0 {
		m := <-raw
		var ch messages.Change
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			t.Fatalf("%s: not JSON: %q", m.Subject, m.Data)
		}
		wantSubj := c.Prefix + ".changes." + ch.Table
		if ch.Kind == "TRUNCATE" || strings.HasPrefix(ch.Kind, "CREATE") || strings.HasPrefix(ch.Kind, "ALTER") || strings.HasPrefix(ch.Kind, "DROP") {
			wantSubj = c.Prefix + ".changes._schema"
		}
		if m.Subject != wantSubj {
			t.Errorf("change %s (%s) on %s, want %s", ch.Key(), ch.Kind, m.Subject, wantSubj)
		}
		plain = append(plain, ch)
	}
	t.Logf("the plain subscriber of %s.changes.> received %d changes", c.Prefix, len(plain))
	checkOrder(t, "plain", plain)
	if len(plain) == 0 {
		t.Error("the plain subscriber received nothing")
	}
}

// feedLoad is concurrent writes, some of which fail at apply (an
// unknown column, an unknown table: the admission checks cannot know),
// with table DDL and TRUNCATE among them, each with its own request id.
//
// The DDL and TRUNCATE come first, before any fault (schemaDone): a
// worker killed while a schema change runs in its keyspace runs it again
// on restart, and a CREATE TABLE then fails there with "already exists"
// while it succeeded on the other replicas. That is a store bug of its own
// (statements run alone are recorded after they run), open; the feed's
// guarantees are what these tests check.
type feedLoad struct {
	t      *testing.T
	cl     *client.Client
	mu     sync.Mutex
	writes []write
	half   chan struct{} // closed once every writer is halfway
	// schemaDone is closed once the schema writes are answered.
	schemaDone chan struct{}
	wg         sync.WaitGroup
}

func startFeedLoad(t *testing.T, cl *client.Client, writers, perWriter int) *feedLoad {
	l := &feedLoad{t: t, cl: cl, half: make(chan struct{}), schemaDone: make(chan struct{})}
	l.do("ddl-0", "CREATE TABLE feed_t (id int PRIMARY KEY, v int)")
	var schema sync.WaitGroup
	schema.Add(min(writers, 2))
	go func() { schema.Wait(); close(l.schemaDone) }()
	var halfway sync.WaitGroup
	halfway.Add(writers)
	for g := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := range perWriter {
				if i == perWriter/2 {
					halfway.Done()
				}
				id := fmt.Sprintf("w%d-%d", g, i)
				if i == 3 && g < 2 {
					schema.Done()
				}
				switch {
				case i%9 == 4: // fails at apply: no such column
					l.do(id, fmt.Sprintf("UPDATE feed_t SET nosuch = %d WHERE id = %d", i, g))
				case i%9 == 7: // fails at apply: no such table
					l.do(id, fmt.Sprintf("INSERT INTO feed_missing (id) VALUES (%d)", i))
				case g == 0 && i < 3:
					l.do(id, fmt.Sprintf("CREATE TABLE feed_ddl_%d (id int PRIMARY KEY)", i))
				case g == 1 && i < 3:
					l.do(id, "TRUNCATE feed_t")
				default:
					l.do(id, fmt.Sprintf("INSERT INTO feed_t (id, v) VALUES (%d, %d)", g*1000+i, i))
				}
			}
		}()
	}
	go func() { halfway.Wait(); close(l.half) }()
	return l
}

func (l *feedLoad) do(id, stmt string) {
	res, err := l.cl.Exec(context.Background(), stmt, client.WithRequestID(id))
	l.mu.Lock()
	l.writes = append(l.writes, write{id: id, stmt: stmt, res: res, err: err})
	l.mu.Unlock()
}

// committed counts the writes that got SUCCESS so far.
func (l *feedLoad) committed() int { return l.committedAfter(messages.ChangeKey{}) }

// committedAfter counts the writes that got SUCCESS at a key after k.
func (l *feedLoad) committedAfter(k messages.ChangeKey) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.writes {
		if w.err == nil && k.Less(messages.ChangeKey{Seq: w.res.Seq, Index: w.res.Index}) {
			n++
		}
	}
	return n
}

// wait waits for the writers and returns the writes that got SUCCESS, by
// key, and those that failed at apply, by request id.
func (l *feedLoad) wait() (map[messages.ChangeKey]write, map[string]write) {
	t := l.t
	l.wg.Wait()
	want := map[messages.ChangeKey]write{}
	failed := map[string]write{}
	var unknown []write
	for _, w := range l.writes {
		var ce *client.Error
		switch {
		case w.err == nil:
			want[messages.ChangeKey{Seq: w.res.Seq, Index: w.res.Index}] = w
		case errors.As(w.err, &ce) && ce.Code == messages.CodeCQL:
			failed[w.id] = w
		default:
			unknown = append(unknown, w)
		}
	}
	if len(unknown) > 0 {
		t.Errorf("%d writes without a final outcome, e.g. %s: %v", len(unknown), unknown[0].id, unknown[0].err)
	}
	if len(failed) == 0 {
		t.Fatal("no write failed at apply: the test does not show that failed writes stay out of the feed")
	}
	t.Logf("%d writes: %d succeeded, %d failed at apply", len(l.writes), len(want), len(failed))
	return want, failed
}

// checkWatchers waits until every watcher has seen every write that got
// SUCCESS, then checks what each saw.
func checkWatchers(t *testing.T, want map[messages.ChangeKey]write, failed map[string]write, ws map[string]*watcher) {
	t.Helper()
	for name, w := range ws {
		chorustest.Eventually(t, converge, func() error {
			got := map[messages.ChangeKey]bool{}
			for _, ch := range w.changes() {
				got[ch.Key()] = true
			}
			for k, wr := range want {
				if !got[k] {
					return fmt.Errorf("%s subscriber: %s (%s) not seen yet", name, k, wr.id)
				}
			}
			return nil
		})
		checkFeed(t, name, w.changes(), want, failed)
	}
}

// The same through a SIGKILL of the leader process mid-run (the next
// leader publishes whatever the killed one committed and had not), then a
// SIGSTOP of the next leader until a third one leads.
func TestChangeFeedAcrossLeaderKill(t *testing.T) {
	p := chorustest.StartProcs(t, 3, nil)
	nc := p.Conn()
	cl := client.New(nc, client.WithPrefix(p.Prefix), client.WithTimeout(90*time.Second), client.WithAttemptTimeout(20*time.Second))
	leader := p.WaitLeader(nc, 30*time.Second, "")
	var all, resumed watcher
	watch(t, cl, "", 1, &all)
	stopFirst := watch(t, cl, "", 1, &resumed)
	l := startFeedLoad(t, cl, 3, 60)
	<-l.half
	stopFirst()
	last, _ := all.last()
	p.Kill(leader)
	t.Logf("killed the leader %s (SIGKILL); %d committed writes after the last change seen (%s)", leader, l.committedAfter(last.Key()), last.Key())
	next := p.WaitLeader(nc, 30*time.Second, leader)
	t.Logf("%s leads", next)
	p.Start(leader)
	from := uint64(1)
	if last, ok := resumed.last(); ok {
		from = last.Seq
	}
	watch(t, cl, "", from, &resumed)
	// Then freeze the next leader (SIGSTOP) until another leads, and let
	// it go on: a deposed leader whose publisher wakes up mid-term.
	atKill := l.committed()
	chorustest.Eventually(t, converge, func() error {
		if n := l.committed() - atKill; n < 20 {
			return fmt.Errorf("%d writes committed since the kill", n)
		}
		return nil
	})
	p.Pause(next)
	third := p.WaitLeader(nc, 30*time.Second, next)
	p.Resume(next)
	t.Logf("froze %s until %s led, then resumed it", next, third)
	want, failed := l.wait()
	checkWatchers(t, want, failed, map[string]*watcher{"continuous": &all, "resumed": &resumed})
}

// checkFeed: every change is a write a client got SUCCESS for, exactly
// once, in order, with the statement and request id it was sent with.
func checkFeed(t *testing.T, name string, got []messages.Change, want map[messages.ChangeKey]write, failed map[string]write) {
	t.Helper()
	dups := checkOrder(t, name, got)
	seen := map[messages.ChangeKey]bool{}
	for _, ch := range got {
		if seen[ch.Key()] {
			continue
		}
		seen[ch.Key()] = true
		if _, bad := failed[ch.RequestID]; bad {
			t.Errorf("%s: change %s is write %s, which failed", name, ch.Key(), ch.RequestID)
		}
		w, ok := want[ch.Key()]
		switch {
		case !ok:
			t.Errorf("%s: change %s (%s %q) is no write a client got SUCCESS for", name, ch.Key(), ch.RequestID, ch.Stmt)
		case w.id != ch.RequestID || w.stmt != ch.Stmt:
			t.Errorf("%s: change %s is %s %q, the client sent %s %q", name, ch.Key(), ch.RequestID, ch.Stmt, w.id, w.stmt)
		}
		if ch.Outcome != messages.ChangeSuccess {
			t.Errorf("%s: change %s has outcome %s %s", name, ch.Key(), ch.Outcome, ch.Error)
		}
	}
	for k, w := range want {
		if !seen[k] {
			t.Errorf("%s: committed write %s (%s) missing from the feed", name, k, w.id)
		}
	}
	t.Logf("%s subscriber: %d changes, %d distinct, %d duplicates", name, len(got), len(seen), dups)
}

// checkOrder: a change seen before is a duplicate (at least once: a
// subscriber resuming from a seq sees that seq's changes again, all of
// its indexes), counted; a new change behind the newest one seen is out
// of order, an error.
func checkOrder(t *testing.T, name string, got []messages.Change) (dups int) {
	t.Helper()
	seen := map[messages.ChangeKey]bool{}
	var newest messages.ChangeKey
	for i, ch := range got {
		k := ch.Key()
		switch {
		case seen[k]:
			dups++
			continue
		case i > 0 && k.Less(newest):
			t.Errorf("%s: change %s after %s: out of order", name, k, newest)
		}
		seen[k] = true
		if newest.Less(k) {
			newest = k
		}
	}
	return dups
}

func leaderOf(t *testing.T, cl *client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil || st.Leader == "" {
		t.Fatalf("no leader: %v %+v", err, st)
	}
	return st.Leader
}

// On the shipped configuration, reading the feed is the feed role's: a
// client without credentials can neither subscribe to db.changes.> nor
// read the changes stream; the feed role can both, and the chorus CLI
// watches with it. The feed role sends no statement.
func TestChangeFeedPermissions(t *testing.T) {
	s := newSecEnv(t)
	anon := s.sn.Conn(t, chorustest.Anonymous)
	cl := client.New(anon.Conn, client.WithTimeout(60*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cl.Exec(ctx, "CREATE TABLE watched (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}

	// No credentials: refused.
	if _, err := anon.SubscribeSync("db.changes.>"); err != nil {
		t.Fatal(err)
	}
	anon.RequireViolation(t, "db.changes.>")
	nobody := s.sn.Conn(t, chorustest.Anonymous)
	err := client.New(nobody.Conn, client.WithTimeout(3*time.Second)).Watch(ctx, "", 1, func(client.Change) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "feed role") {
		t.Fatalf("a client without credentials watched the feed: %v", err)
	}

	// The feed role: live subscription and the stream.
	reader := s.sn.Conn(t, chorustest.AsFeed)
	live, err := reader.SubscribeSync("db.changes.>")
	if err != nil {
		t.Fatal(err)
	}
	reader.RequireAllowed(t)
	res, err := cl.Exec(ctx, "INSERT INTO watched (id) VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	m, err := live.NextMsg(30 * time.Second)
	for err == nil && m.Subject != "db.changes.watched" { // the CREATE TABLE may come first
		m, err = live.NextMsg(30 * time.Second)
	}
	if err != nil {
		t.Fatalf("the feed role's subscriber got no change of watched: %v", err)
	}
	var ch messages.Change
	if err := json.Unmarshal(m.Data, &ch); err != nil || ch.Seq != res.Seq || ch.Stmt != "INSERT INTO watched (id) VALUES (1)" || ch.Outcome != "SUCCESS" {
		t.Fatalf("change %s: %+v %v", m.Data, ch, err)
	}
	var got []messages.Change
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	done := errors.New("done")
	err = client.New(reader.Conn).Watch(wctx, "watched", 1, func(ch client.Change) error {
		got = append(got, ch)
		return done
	})
	if !errors.Is(err, done) || len(got) != 1 || got[0].Key() != ch.Key() {
		t.Fatalf("watch as the feed role: %v %+v", err, got)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--nats", s.sn.URL, "--nkey", s.sn.FeedNKey, "watch", "--from", "1", "--count", "4"}
	if code := cli.Main(args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "_schema CREATE TABLE watched") ||
		!strings.Contains(stdout.String(), "watched INSERT INTO watched (id) VALUES (1)") {
		t.Fatalf("chorus watch: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("chorus watch:\n%s", stdout.String())
	reader.RequireAllowed(t)
	// Read-only: no statements.
	if err := reader.Publish("db.request", []byte("INSERT INTO watched (id) VALUES (2)")); err != nil {
		t.Fatal(err)
	}
	reader.RequireViolation(t, "db.request")
	// Nobody forges changes for the live subscribers: only the stream
	// republishes on db.changes.>.
	for _, role := range []chorustest.Role{chorustest.Anonymous, chorustest.AsWorker, chorustest.AsFeed} {
		p := s.sn.Conn(t, role)
		for _, subject := range []string{"db.changes.watched", "db.changelog.watched"} {
			if role == chorustest.AsWorker && subject == "db.changelog.watched" {
				continue // the leader's own publishing
			}
			if err := p.Publish(subject, []byte(`{"seq":1,"stmt":"forged"}`)); err != nil {
				t.Fatal(err)
			}
			p.RequireViolation(t, subject)
		}
	}
}

// TestChangeFeedUnderFaults: several faults in a row under load (SIGKILL
// of the leader, SIGSTOP of the leader, SIGKILL of a follower, each after
// some more writes committed), one watcher throughout: it sees every
// committed write once, in order, and no failed one.
func TestChangeFeedUnderFaults(t *testing.T) {
	p := chorustest.StartProcs(t, 3, map[string]string{"CHORUS_SNAPSHOT_EVERY": "100", "CHORUS_LOG_RETAIN": "20"})
	nc := p.Conn()
	cl := client.New(nc, client.WithPrefix(p.Prefix), client.WithTimeout(90*time.Second), client.WithAttemptTimeout(20*time.Second))
	p.WaitLeader(nc, 30*time.Second, "")
	var all watcher
	watch(t, cl, "", 1, &all)
	l := startFeedLoad(t, cl, 3, 120)
	<-l.schemaDone
	faults := []string{"kill leader", "freeze leader", "kill follower", "kill leader", "freeze leader"}
	for _, f := range faults {
		at := l.committed()
		chorustest.Eventually(t, 2*converge, func() error {
			if n := l.committed() - at; n < 25 {
				return fmt.Errorf("%d writes committed since the last fault", n)
			}
			return nil
		})
		leader := p.WaitLeader(nc, 30*time.Second, "")
		switch f {
		case "kill leader":
			p.Kill(leader)
			p.WaitLeader(nc, 30*time.Second, leader)
			p.Start(leader)
		case "freeze leader":
			p.Pause(leader)
			p.WaitLeader(nc, 30*time.Second, leader)
			p.Resume(leader)
		case "kill follower":
			follower := others(p.IDs, leader)[0]
			p.Kill(follower)
			p.Start(follower)
		}
		t.Logf("%s (%s) after %d committed writes", f, leader, l.committed())
	}
	want, failed := l.wait()
	checkWatchers(t, want, failed, map[string]*watcher{"continuous": &all})
	if st, err := cl.Status(context.Background()); err == nil {
		t.Logf("the log holds seq %d..%d (newest snapshot %d): trimmed behind the feed", st.FirstSeq, st.LastSeq, st.SnapshotSeq)
	}
}

// TestChangeFeedReadsForgottenOutcomes: with an in-memory exactly-once
// window of one id, a feed held back until the writes are done must read
// their outcomes from the leader's keyspace: every committed write is
// published with its outcome, none as UNKNOWN.
func TestChangeFeedReadsForgottenOutcomes(t *testing.T) {
	c := chorustest.StartCluster(t, 1, func(cfg *worker.Config) { cfg.DedupMax = 1 })
	nc := c.Conn()
	cl := client.New(nc, client.WithPrefix(c.Prefix), client.WithTimeout(60*time.Second))
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj := messages.NewSubjects(c.Prefix)
	held := feed.StreamConfig(subj, 1, 0)
	held.Subjects = []string{c.Prefix + ".held.>"}
	held.RePublish.Source = held.Subjects[0]
	if _, err := js.UpdateStream(ctx, held); err != nil {
		t.Fatalf("holding the feed back: %v", err)
	}
	var all watcher
	watch(t, cl, "", 1, &all)
	l := startFeedLoad(t, cl, 2, 30)
	want, failed := l.wait()
	if _, err := js.UpdateStream(ctx, feed.StreamConfig(subj, 1, 0)); err != nil {
		t.Fatalf("letting the feed go on: %v", err)
	}
	checkWatchers(t, want, failed, map[string]*watcher{"continuous": &all})
}
