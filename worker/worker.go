// Package worker is a Chorus replica: it serves client requests (reads from
// its own keyspace, writes forwarded to the leader), applies the ORDER log
// strictly in sequence to its keyspace, and runs a leader.Node so that any
// worker can lead.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/jsassets"
	"github.com/chorusdb/chorus/leader"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
	"github.com/chorusdb/chorus/snapshot"
	"github.com/chorusdb/chorus/store"
)

// Store is the replica's storage, as the worker uses it.
type Store interface {
	// Apply applies the writes of consecutive ORDERs atomically with the
	// record of progress and returns their outcomes; an error is a storage
	// failure (retry the same ORDERs, never skip them).
	Apply(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error)
	// Query answers a read: column names and a JSON array of rows.
	Query(ctx context.Context, stmt string) ([]string, json.RawMessage, error)
	// Requests lists remembered request ids and outcomes.
	Requests(ctx context.Context) ([]store.Request, error)
	// Outcome reads the exactly-once record of one request id (false: none).
	Outcome(ctx context.Context, id string, seq uint64, idx uint32) (messages.Outcome, bool, error)
	// Members lists the cluster's members as the keyspace holds them.
	Members(ctx context.Context) ([]messages.Member, error)
	// DescribeTables lists the keyspace's own tables (DESCRIBE TABLES).
	DescribeTables(ctx context.Context) ([]string, error)
	// DescribeTable lists a table's columns in CREATE TABLE order (DESCRIBE
	// TABLE), or fails with store.ErrNoTable.
	DescribeTable(ctx context.Context, name string) ([]store.Column, error)
	Close()
}

// ErrLogBehind is returned when the log no longer holds what this replica
// needs to catch up, or holds less than it already applied.
var ErrLogBehind = errors.New("worker: log and keyspace disagree")

// Worker is one replica.
type Worker struct {
	cfg      Config
	subjects messages.Subjects
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	store    Store
	recent   *Recent
	watched  *watchedWrites // accepted writes whose answer is not reported yet
	node     *leader.Node
	feed     *feed.Publisher // nil without the change feed

	snapshots *snapshot.Store
	gen       atomic.Pointer[string] // this life of the keyspace (set again by a restore)
	members   []messages.Member      // as the keyspace holds them at start
	plan      *snapshot.Manifest     // the snapshot to restore before serving
	// restoring is the progress of a restore under way; snapshotSeq the
	// newest snapshot this worker stored (both reported in heartbeats).
	restoring   atomic.Pointer[messages.RestoreProgress]
	snapshotSeq atomic.Uint64
	rosterNow   atomic.Pointer[[]messages.Member]
	durable     atomic.Uint64 // the keyspace's recorded progress
	maxTS       atomic.Int64  // the highest write timestamp applied

	applied      atomic.Uint64
	applyWatch   appliedWatch // wakes reads waiting for applied (reads.go)
	freshAt      atomic.Int64 // monoNow: applied covers every write acknowledged before it
	epoch        atomic.Uint64
	stalled      atomic.Pointer[string]
	replicaStats atomic.Pointer[ReplicaStats]

	requests chan request
	inflight budget // bytes of the requests in w.requests or being served
	service  *service
	// gate orders admissions against the end of serving: once closed, no
	// request enters w.requests (stop), so none is left there unanswered.
	gate   sync.RWMutex
	closed bool
	wg     sync.WaitGroup

	connStats connStats   // NATS's asynchronous errors (natsconn.go)
	stopping  atomic.Bool // past the shutdown grace: forwards give up

	// For metrics and health (health.go).
	metrics     *metrics.Metrics
	handler     http.Handler
	known       atomic.Uint64 // the highest log seq the replica knows of
	logBounds   atomic.Pointer[logInfo]
	latestSnap  atomic.Pointer[snapshotInfo]
	cluster     atomic.Pointer[clusterView]
	replicaBase ReplicaStats // counters of earlier apply loops (owned by replicate)
}

// Stats are a worker's counters, for operators and tests.
type Stats struct {
	Replica ReplicaStats
	Leader  leader.Stats
	// Watched: accepted writes this worker forwarded whose answer no
	// leader has reported yet (Handovers).
	Watched int
}

// Stats returns the worker's counters.
func (w *Worker) Stats() Stats {
	var st Stats
	if r := w.replicaStats.Load(); r != nil {
		st.Replica = *r
	}
	st.Leader = w.node.Stats()
	st.Watched = w.watched.len()
	return st
}

// New connects a worker to NATS and Cassandra; Run starts it. openStore
// opens the replica's storage and returns what it has applied.
func New(ctx context.Context, cfg Config, log *slog.Logger, openStore func(context.Context) (Store, store.State, error)) (*Worker, error) {
	w := &Worker{cfg: cfg, subjects: messages.NewSubjects(cfg.SubjectPrefix), log: log, requests: make(chan request, 4096)}
	nc, err := w.connect()
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s (CHORUS_NATS_URL): %w", cfg.NATSURL, err)
	}
	w.nc = nc
	if w.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	if w.stream, err = openLog(ctx, w.js, w.subjects, cfg.LogReplicas, log); err != nil {
		nc.Close()
		return nil, err
	}
	st, err := w.openStore(ctx, openStore)
	if err != nil {
		nc.Close()
		return nil, err
	}
	w.applied.Store(st.Applied)
	w.durable.Store(st.Applied)
	w.maxTS.Store(st.TS)
	w.epoch.Store(st.Epoch)
	gen := st.Gen
	w.gen.Store(&gen)
	fail := func(err error) (*Worker, error) {
		w.store.Close()
		nc.Close()
		return nil, err
	}
	// Start-up reads wait out a NATS cluster that is busy or electing (found
	// by TestNATSCluster in CI: "listing snapshots: context deadline exceeded").
	if err := jsassets.Patiently(ctx, log, "opening the snapshot bucket", jsassets.Busy, func() (err error) {
		w.snapshots, err = snapshot.Open(ctx, w.js, w.subjects.SnapshotBucket(), cfg.LogReplicas, cfg.SnapshotKeep, log)
		return err
	}); err != nil {
		return fail(err)
	}
	if err := jsassets.Patiently(ctx, log, "reading the ORDER log and the snapshots", jsassets.Busy, func() (err error) {
		w.plan, err = w.restorePlan(ctx, st.Applied)
		return err
	}); err != nil {
		return fail(err)
	}
	if w.members, err = w.store.Members(ctx); err != nil {
		return fail(err)
	}
	w.recent = NewRecent(cfg.DedupWindow, cfg.DedupMax)
	w.watched = newWatchedWrites(cfg.ForwardTimeout)
	reqs, err := w.store.Requests(ctx)
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	for _, r := range reqs {
		w.recent.Add(r.ID, r.Outcome, now)
	}
	w.metrics = metrics.New(cfg.ID, w.metricsState)
	w.handler = metrics.Handler(w.metrics, w.healthy, w.readiness)
	lc := leader.Config{
		ID: cfg.ID, Subjects: w.subjects, LeaseTTL: cfg.LeaseTTL, Tick: cfg.HeartbeatInterval / 2,
		Timing: leader.Timing{HeartbeatTimeout: cfg.HeartbeatTimeout, AckTimeout: cfg.AckTimeout, CatchUpTimeout: cfg.CatchUpTimeout},
		Lookup: w.recent.Lookup, EpochFloor: w.epoch.Load, Log: log.With("role", "leader"),
		Policy: leader.Policy{SnapshotEvery: cfg.SnapshotEvery, Retain: cfg.LogRetain, SnapshotTimeout: cfg.SnapshotTimeout,
			Roster: w.roster, TimestampFloor: w.maxTS.Load},
		Snapshots:   latestSeq{w.snapshots},
		Metrics:     w.metrics,
		LogReplicas: cfg.LogReplicas,
	}
	if err := w.openFeed(ctx, &lc, log); err != nil {
		return fail(err)
	}
	w.node = leader.NewNode(nc, w.js, w.stream, lc)
	return w, nil
}

// latestSeq tells the leader the newest snapshot's seq.
type latestSeq struct{ s *snapshot.Store }

func (l latestSeq) LatestSeq(ctx context.Context) (uint64, error) {
	m, err := l.s.Latest(ctx)
	if errors.Is(err, snapshot.ErrNone) {
		return 0, nil
	}
	return m.Seq, err
}

// roster is the members as this worker's replica has applied them.
func (w *Worker) roster() []messages.Member {
	if p := w.rosterNow.Load(); p != nil {
		return *p
	}
	return nil
}

// openStore retries until Cassandra answers or ctx ends: a worker started
// before its database waits for it rather than exiting.
func (w *Worker) openStore(ctx context.Context, open func(context.Context) (Store, store.State, error)) (store.State, error) {
	backoff := newBackoff()
	for {
		s, st, err := open(ctx)
		if err == nil {
			w.store = s
			if ws, ok := s.(interface{ Warnings() []string }); ok {
				for _, warning := range ws.Warnings() {
					w.log.Warn(warning)
				}
			}
			return st, nil
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return st, err
		}
		w.log.Warn("waiting for Cassandra", "err", err)
		if !backoff.wait(ctx) {
			return st, fmt.Errorf("opening keyspace %s: %w", w.cfg.KeyspaceName(), err)
		}
	}
}

// openLog creates the ORDER stream if it is missing, with the configured
// replicas (an existing one is moved to them where NATS allows).
func openLog(ctx context.Context, js jetstream.JetStream, s messages.Subjects, replicas int, log *slog.Logger) (jetstream.Stream, error) {
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Replicas:    replicas,
		Name:        s.StreamName(),
		Description: "Chorus ORDER log: one entry per write, in global order",
		Subjects:    []string{s.Order()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		jsassets.Reconcile(ctx, js, s.StreamName(), replicas, log)
		st, err = js.Stream(ctx, s.StreamName())
	}
	if err != nil {
		err = jsassets.Explain(err, "ORDER log "+s.StreamName(), replicas)
		return nil, fmt.Errorf("opening the ORDER log %s (is JetStream enabled on the NATS server?): %w", s.StreamName(), err)
	}
	return st, nil
}

// Run serves until ctx ends.
func (w *Worker) Run(parent context.Context) error {
	defer w.nc.Close()
	defer w.store.Close()
	// The worker's parts outlive the caller's ctx by a short grace period
	// at shutdown, so that requests already taken are answered (stop).
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()

	errc := make(chan error, 4)
	w.wg.Add(2)
	go func() { defer w.wg.Done(); w.heartbeats(ctx); errc <- nil }()
	go func() { defer w.wg.Done(); w.watchCluster(ctx) }()
	if w.plan != nil {
		if err := w.restore(ctx, *w.plan, w.applied.Load()); err != nil {
			cancel()
			w.wg.Wait()
			return err
		}
	}
	w.wg.Add(3)
	go func() { defer w.wg.Done(); errc <- w.replicate(ctx) }()
	go func() { defer w.wg.Done(); errc <- w.node.Run(ctx) }()
	go func() { defer w.wg.Done(); errc <- w.runFeed(ctx) }()
	var serving sync.WaitGroup
	stopServing := make(chan struct{})
	for range requestHandlers {
		serving.Add(1)
		go func() { defer serving.Done(); w.serve(ctx, stopServing) }()
	}
	svc, err := w.startService()
	if err != nil {
		cancel()
		serving.Wait()
		w.wg.Wait()
		return err
	}
	w.log.Info("worker started", "keyspace", w.cfg.KeyspaceName(), "applied", w.applied.Load(), "subjects", w.subjects.Request())
	var runErr error
	select {
	case <-parent.Done():
	case runErr = <-errc:
	}
	w.stop(svc, stopServing, &serving)
	cancel()
	w.wg.Wait()
	return runErr
}

// stopGrace bounds how long a stopping worker keeps answering the requests
// it already took.
const stopGrace = 3 * time.Second

// stop ends serving without losing a request: the server stops routing
// requests here (the micro service drains its endpoints, then a flush so
// the server has seen it) before the queue is drained; a request NATS
// still delivers after that is refused UNAVAILABLE, not applied (admit
// behind the closed gate); and what is still in hand after stopGrace is
// answered UNAVAILABLE (the forward retries under the same request id
// elsewhere).
func (w *Worker) stop(svc *service, stopServing chan struct{}, serving *sync.WaitGroup) {
	if err := svc.Stop(); err != nil {
		w.log.Warn("stopping the micro service", "err", err)
	}
	_ = w.nc.FlushTimeout(time.Second)
	w.gate.Lock()
	w.closed = true
	w.gate.Unlock()
	close(stopServing)
	done := make(chan struct{})
	go func() { serving.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
		w.log.Warn("requests still in hand at shutdown; answering them UNAVAILABLE")
		w.stopping.Store(true)
		<-done
	}
}

// replicate runs the apply loop; one that finds the log trimmed past it
// restores the keyspace from the newest snapshot and runs again.
func (w *Worker) replicate(ctx context.Context) error {
	for {
		err := w.applyLoop(ctx)
		if !errors.Is(err, errBehindLog) {
			return err
		}
		plan, err := w.restorePlan(ctx, w.durable.Load())
		if err != nil {
			return err
		}
		if plan != nil {
			if err := w.restore(ctx, *plan, w.durable.Load()); err != nil {
				return err
			}
		}
		if w.members, err = w.store.Members(ctx); err != nil {
			return err
		}
	}
}

// requestHandlers is how many requests a worker serves at once.
const requestHandlers = 64

func (w *Worker) serve(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-w.requests:
			w.handle(ctx, q)
			w.inflight.release(q.m)
		case <-stop: // answer what is queued, then end
			for {
				select {
				case q := <-w.requests:
					w.handle(ctx, q)
					w.inflight.release(q.m)
				default:
					return
				}
			}
		}
	}
}

// respond answers an admitted request; an ERROR is counted in the micro
// service's endpoint data (service.go).
func (w *Worker) respond(q request, r messages.Reply) {
	if r.Status == messages.StatusError {
		w.service.failedLater(q.ep, r.Code)
	}
	if q.m.Reply != "" {
		_ = w.nc.Publish(q.m.Reply, r.Encode())
	}
}

// heartbeats tells the leader, every interval, that this worker is alive
// and how far it has applied.
func (w *Worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		hb := messages.Heartbeat{Worker: w.cfg.ID, Applied: w.applied.Load(), Epoch: w.epoch.Load(), Gen: w.generation(),
			Snapshot: w.snapshotSeq.Load(), Restoring: w.restoring.Load(), Durable: w.durable.Load()}
		if s := w.stalled.Load(); s != nil {
			hb.Stalled = *s
		}
		_ = w.nc.Publish(w.subjects.Heartbeat(), messages.MustEncode(&hb))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Applied is the last applied log sequence.
func (w *Worker) Applied() uint64 { return w.applied.Load() }

// backoff waits between retries of something that failed: 50ms doubling
// to 2s by default. It is a retry pace, not a wait for a condition.
type backoff struct{ d, max time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond, max: 2 * time.Second} }

func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	if b.d *= 2; b.d > b.max {
		b.d = b.max
	}
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// generation is this life of the keyspace: a restore replaces it while the
// heartbeats read it.
func (w *Worker) generation() string {
	if g := w.gen.Load(); g != nil {
		return *g
	}
	return ""
}
