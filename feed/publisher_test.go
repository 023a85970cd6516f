package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/messages"
)

// logEnv is a real nats-server with an ORDER log the test appends to and
// the replica's exactly-once record the publishers read: no Cassandra.
type logEnv struct {
	t       *testing.T
	js      jetstream.JetStream
	subj    messages.Subjects
	changes jetstream.Stream
	mu      sync.Mutex
	records map[string]messages.Outcome
	seq     uint64
}

func newLogEnv(t *testing.T) *logEnv {
	e := &logEnv{t: t, js: chorustest.JetStream(t), subj: messages.NewSubjects("feedtest"), records: map[string]messages.Outcome{}}
	ctx := context.Background()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: e.subj.StreamName(), Subjects: []string{e.subj.Order()}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	// The shipped stream, with its dedup window (Nats-Msg-Id) all but
	// closed: what keeps each change once and in order here is the
	// conditional append alone.
	cfg := feed.StreamConfig(e.subj, 1, 0)
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := e.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.changes, err = feed.OpenStream(ctx, e.js, e.subj, 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// appendOrder appends an ORDER of epoch with one write per statement; a
// statement starting with "BAD" fails on the replica, one starting with
// "LOST" has no record left.
func (e *logEnv) appendOrder(epoch uint64, stmts ...string) uint64 {
	e.t.Helper()
	e.seq++
	o := messages.Order{Epoch: epoch, Seq: e.seq, Kind: messages.OrderWrite, Timestamp: int64(e.seq) * 1000, Leader: "s0"}
	if len(stmts) == 0 {
		o.Kind = messages.OrderEpoch
	}
	e.mu.Lock()
	for i, st := range stmts {
		id := fmt.Sprintf("r%d.%d", e.seq, i)
		o.Writes = append(o.Writes, messages.Write{RequestID: id, Stmt: st, Origin: "s1"})
		out := messages.Outcome{Seq: e.seq, Index: uint32(i)}
		switch {
		case strings.HasPrefix(st, "BAD"):
			out.Code = messages.CodeCQL
			o.Writes[i].Stmt = "INSERT INTO t (id) VALUES (-1)"
		case strings.HasPrefix(st, "LOST"):
			o.Writes[i].Stmt = "INSERT INTO t (id) VALUES (-2)"
			continue
		}
		e.records[id] = out
	}
	e.mu.Unlock()
	if _, err := e.js.Publish(context.Background(), e.subj.Order(), messages.MustEncode(&o), jetstream.WithExpectLastSequence(e.seq-1)); err != nil {
		e.t.Fatal(err)
	}
	return e.seq
}

func (e *logEnv) outcome(id string, _ uint64, _ uint32) (messages.Outcome, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	o, ok := e.records[id]
	return o, ok, nil
}

// run starts a publisher, stopped at the end of the test or by stop.
func (e *logEnv) run() (*feed.Publisher, func()) {
	p := feed.New(e.js, e.changes, feed.Config{Subjects: e.subj, Outcome: e.outcome})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("publisher: %v", err)
			}
		}
	}
	e.t.Cleanup(stop)
	return p, stop
}

// stored is the changes stream's content: subject token and key, in order.
func (e *logEnv) stored() []string {
	e.t.Helper()
	ctx := context.Background()
	info, err := e.changes.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for s := info.State.FirstSeq; s <= info.State.LastSeq && info.State.Msgs > 0; s++ {
		m, err := e.changes.GetMsg(ctx, s)
		if err != nil {
			e.t.Fatal(err)
		}
		var ch messages.Change
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, m.Subject[len(e.subj.ChangeLog("")):]+":"+ch.Key().String())
	}
	return out
}

func (e *logEnv) waitStored(want ...string) {
	e.t.Helper()
	chorustest.Eventually(e.t, 10*time.Second, func() error {
		got := e.stored()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("stream holds %v, want %v", got, want)
		}
		return nil
	})
}

func TestPublisherPublishesCommittedSuccessesInOrder(t *testing.T) {
	e := newLogEnv(t)
	e.appendOrder(1)                                                       // 1: marker
	e.appendOrder(1, "INSERT INTO t (id) VALUES (1)", "BAD", "TRUNCATE t") // 2
	e.appendOrder(1, "INSERT INTO u (id) VALUES (2)")                      // 3
	e.appendOrder(1, "LOST", "CREATE TABLE v (id int PRIMARY KEY)")        // 4
	e.appendOrder(1, "UPDATE t SET x = 1 WHERE id = 1")                    // 5
	p, _ := e.run()
	if n := p.Needs(); n != 0 {
		t.Fatalf("needs %d while not leading", n)
	}
	p.Committed(1, 3) // only up to seq 3 is committed
	e.waitStored("t:2.0", "_schema:2.2", "u:3.0")
	chorustest.Eventually(t, 5*time.Second, func() error {
		if n := p.Needs(); n != 4 {
			return fmt.Errorf("needs %d, want 4", n)
		}
		return nil
	})
	p.Committed(1, 5)
	e.waitStored("t:2.0", "_schema:2.2", "u:3.0", "_gap:4.0", "_schema:4.1", "t:5.0")
	if st := p.Stats(); st.Published != 6 || st.Unknown != 1 {
		t.Errorf("stats %+v", st)
	}
	// A step-down stops it; nothing more is published while it follows.
	p.Committed(0, 0)
	e.appendOrder(1, "INSERT INTO t (id) VALUES (6)")
	chorustest.Eventually(t, 5*time.Second, func() error {
		if n := p.Needs(); n != 0 {
			return fmt.Errorf("needs %d after stepping down", n)
		}
		return nil
	})
	if got := e.stored(); len(got) != 6 {
		t.Fatalf("a follower published: %v", got)
	}
}

// A new publisher (a new leader) starts where the stream stands, and two
// publishing at once (a deposed leader not yet aware) store each change
// once, in order: the appends are conditional on the stream's last seq.
func TestPublishersResumeAndNeverInterleave(t *testing.T) {
	e := newLogEnv(t)
	e.appendOrder(1)
	e.appendOrder(1, "INSERT INTO t (id) VALUES (1)", "INSERT INTO t (id) VALUES (2)")
	old, stopOld := e.run()
	old.Committed(1, 2)
	e.waitStored("t:2.0", "t:2.1")
	stopOld()

	e.appendOrder(1, "INSERT INTO t (id) VALUES (3)")
	e.appendOrder(2)                                  // the next leader's marker
	e.appendOrder(1, "INSERT INTO t (id) VALUES (4)") // the deposed leader's pipelined append: skipped
	var want []string
	want = append(want, "t:2.0", "t:2.1", "t:3.0")
	for range 40 {
		seq := e.appendOrder(2, "INSERT INTO t (id) VALUES (5)", "INSERT INTO t (id) VALUES (6)")
		want = append(want, fmt.Sprintf("t:%d.0", seq), fmt.Sprintf("t:%d.1", seq))
	}
	// a, deposed, has read where the stream stands and waits for seq 3
	// to commit while b publishes everything.
	a, _ := e.run()
	a.Committed(2, 2)
	chorustest.Eventually(t, 5*time.Second, func() error {
		if n := a.Needs(); n != 3 {
			return fmt.Errorf("needs %d, want 3", n)
		}
		return nil
	})
	b, _ := e.run()
	b.Committed(3, e.seq)
	e.waitStored(want...)
	// Past the dedup window, a goes on: its appends expect a stream that
	// has moved on, fail, and a finds nothing left to publish.
	published := time.Now()
	chorustest.Eventually(t, 5*time.Second, func() error {
		if d := time.Since(published); d < 200*time.Millisecond {
			return fmt.Errorf("only %s since the last change (dedup window 100ms)", d)
		}
		return nil
	})
	a.Committed(2, e.seq)
	chorustest.Eventually(t, 10*time.Second, func() error {
		if n := a.Needs(); n != e.seq+1 {
			return fmt.Errorf("the deposed publisher needs seq %d, want %d", n, e.seq+1)
		}
		return nil
	})
	if got := e.stored(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the deposed publisher went on, the stream holds %v, want %v", got, want)
	}
}
