// Package join measures how long a new worker takes to join a cluster with
// a long history: by replaying the whole ORDER log, and by restoring a
// snapshot and applying the log after it (issue 8). It runs a NATS server
// with JetStream in this process (file store, fsync always, like the
// shipped nats.conf) and workers in-process against a real Cassandra.
// bench/cmd/joinbench is its command; `make bench` runs it.
package join

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gocql/gocql"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/bench"
	"github.com/chorusdb/chorus/chorustest/orderlog"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/snapshot"
	"github.com/chorusdb/chorus/worker"
)

// Config is how the benchmark runs.
type Config struct {
	Hosts       []string      // Cassandra contact points
	Keys        int           // the fixed key set the writes overwrite
	PerOrder    int           // writes per crafted ORDER
	Retain      uint64        // CHORUS_LOG_RETAIN of the workers
	DedupWindow time.Duration // CHORUS_DEDUP_WINDOW of the workers (0: the default)
	// SnapshotTimeout is CHORUS_SNAPSHOT_TIMEOUT of the workers: a
	// snapshot not reported by then is given up, and asked for once more.
	SnapshotTimeout time.Duration
	// PhaseTimeout bounds each wait (a join, the snapshot, the trim).
	PhaseTimeout time.Duration
	Log          *slog.Logger // the benchmark's progress
	WorkerLog    io.Writer    // the workers' logs (nil: discarded)
}

// DefaultConfig is 10,000 keys, 16 writes per ORDER, 1,000 entries kept
// behind the snapshot.
func DefaultConfig() Config {
	return Config{
		Hosts: []string{"127.0.0.1:9042"}, Keys: 10_000, PerOrder: 16, Retain: 1000,
		SnapshotTimeout: 2 * time.Minute, PhaseTimeout: 30 * time.Minute, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// Table is the benchmark's table.
const Table = "kv"

// CreateTable is the table the writes go to.
const CreateTable = "CREATE TABLE " + Table + " (k int PRIMARY KEY, v text)"

// Statements are the statements of crafted ORDER i: writes i·per …
// (i+1)·per−1, write w an upsert of key w mod keys with a value of its
// own, so the history overwrites a fixed set of keys and the last value
// of each key tells which write was applied last.
func Statements(i, per, keys int) []string {
	stmts := make([]string, per)
	for j := range stmts {
		w := i*per + j
		stmts[j] = fmt.Sprintf("INSERT INTO %s (k, v) VALUES (%d, 'w%d')", Table, w%keys, w)
	}
	return stmts
}

// LastWrite is the number of the last of writes writes that wrote key k
// of keys, or -1 if none did: its value, 'w<number>', is what every replica
// must hold for k.
func LastWrite(k, writes, keys int) int {
	if k >= writes {
		return -1
	}
	return k + keys*((writes-1-k)/keys)
}

// Orders is how many ORDERs of per writes hold writes writes (the last
// may hold fewer: Statements is cut there by Run).
func Orders(writes, per int) int { return (writes + per - 1) / per }

// run is one history length: its NATS server, its cluster's names.
type run struct {
	cfg     Config
	log     *slog.Logger
	dir     string
	srv     *server.Server
	url     string
	prefix  string
	subj    messages.Subjects
	nc      *nats.Conn
	js      jetstream.JetStream
	cl      *client.Client
	session *gocql.Session
	ks      []string   // keyspaces to drop at the end
	workers []*running // to stop at the end
}

// Run measures one history of writes writes.
func Run(ctx context.Context, cfg Config, writes int) (res bench.JoinResult, err error) {
	res.Writes, res.Orders = writes, Orders(writes, cfg.PerOrder)
	r := &run{cfg: cfg, log: cfg.Log.With("writes", writes)}
	defer r.close()
	if err := r.start(); err != nil {
		return res, err
	}

	// A cluster of worker a only: it creates the table, then stops; its
	// keyspace is dropped so that it replays the log from seq 1.
	a := r.workerConfig("a")
	wa, err := r.startWorker(ctx, a)
	if err != nil {
		return res, err
	}
	if _, err := r.waitLive(ctx, wa, 0); err != nil {
		return res, err
	}
	if _, err := r.cl.Exec(ctx, CreateTable, client.WithTimeout(time.Minute)); err != nil {
		return res, fmt.Errorf("creating the table: %w", err)
	}
	wa.stop()
	if err := r.session.Query(`DROP KEYSPACE IF EXISTS "` + a.Keyspace + `"`).Exec(); err != nil {
		return res, err
	}

	// The history, appended as a's leader would have.
	ol, err := orderlog.New(r.nc, r.prefix)
	if err != nil {
		return res, err
	}
	start := time.Now()
	crafted, err := ol.Append(ctx, res.Orders, func(i int) []string {
		stmts := Statements(i, cfg.PerOrder, cfg.Keys)
		return stmts[:min(len(stmts), writes-i*cfg.PerOrder)]
	})
	if err != nil {
		return res, err
	}
	res.CraftSeconds = time.Since(start).Seconds()
	r.log.Info("crafted the history", "orders", crafted.Last-crafted.First+1, "seqs", fmt.Sprintf("%d..%d", crafted.First, crafted.Last),
		"took", time.Since(start).Round(time.Millisecond))

	// 1. Join by replaying the whole log.
	start = time.Now()
	if wa, err = r.startWorker(ctx, a); err != nil {
		return res, err
	}
	applied, err := r.waitLive(ctx, wa, crafted.Last)
	if err != nil {
		return res, fmt.Errorf("a replaying the log: %w", err)
	}
	res.ReplaySeconds, res.ReplayEntries = time.Since(start).Seconds(), applied
	r.log.Info("a joined by replaying the log", "entries", applied, "took", time.Since(start).Round(time.Millisecond),
		"entries/s", int(float64(applied)/res.ReplaySeconds), "writes/s", int(float64(writes)/res.ReplaySeconds))

	// 2. A snapshot, then the trim below it.
	info, err := r.streamInfo(ctx)
	if err != nil {
		return res, err
	}
	res.LogEntries, res.LogBytes, res.LogDiskBytes = info.State.LastSeq, info.State.Bytes, r.streamDisk()
	var seq uint64
	var by string
	for {
		start = time.Now()
		res.SnapshotAttempts++
		seq, by, err = r.cl.Snapshot(ctx, client.WithTimeout(cfg.PhaseTimeout))
		if err == nil {
			break
		}
		if res.SnapshotAttempts == 2 || ctx.Err() != nil {
			return res, fmt.Errorf("snapshot (attempt %d): %w", res.SnapshotAttempts, err)
		}
		r.log.Warn("snapshot failed; asking once more", "err", err)
	}
	res.SnapshotSeconds = time.Since(start).Seconds()
	store, err := snapshot.Open(ctx, r.js, r.subj.SnapshotBucket(), 1, 1, slog.Default())
	if err != nil {
		return res, err
	}
	m, err := store.Latest(ctx)
	if err != nil {
		return res, err
	}
	res.SnapshotSeq, res.SnapshotRows, res.SnapshotBytes = m.Seq, m.Rows, m.Bytes
	r.log.Info("snapshot stored", "seq", seq, "by", by, "rows", m.Rows, "bytes", m.Bytes, "took", time.Since(start).Round(time.Millisecond))
	if res.TrimmedFirstSeq, err = r.waitTrim(ctx, m.Seq+1-min(cfg.Retain, m.Seq)); err != nil {
		return res, err
	}
	if info, err = r.streamInfo(ctx); err != nil {
		return res, err
	}
	res.TrimmedBytes, res.TrimmedDisk = info.State.Bytes, r.streamDisk()
	r.log.Info("log trimmed", "first_seq", res.TrimmedFirstSeq, "bytes", res.TrimmedBytes, "before", res.LogBytes)

	// 3. Join by restoring the snapshot.
	b := r.workerConfig("b")
	start = time.Now()
	wb, err := r.startWorker(ctx, b)
	if err != nil {
		return res, err
	}
	if applied, err = r.waitLive(ctx, wb, m.Seq); err != nil {
		return res, fmt.Errorf("b restoring the snapshot: %w", err)
	}
	res.JoinSeconds, res.JoinEntries = time.Since(start).Seconds(), applied-m.Seq
	r.log.Info("b joined from the snapshot", "applied", applied, "took", time.Since(start).Round(time.Millisecond))

	for _, ks := range []string{a.Keyspace, b.Keyspace} {
		if err := r.check(ks, writes); err != nil {
			return res, err
		}
	}
	return res, nil
}

// check reads keyspace ks's table: every key must hold the value of its
// last write.
func (r *run) check(ks string, writes int) error {
	iter := r.session.Query(fmt.Sprintf(`SELECT k, v FROM "%s".%s`, ks, Table)).PageSize(5000).Iter()
	var k, n int
	var v string
	for iter.Scan(&k, &v) {
		n++
		if want := fmt.Sprintf("w%d", LastWrite(k, writes, r.cfg.Keys)); v != want {
			iter.Close()
			return fmt.Errorf("keyspace %s: key %d holds %q, want %q", ks, k, v, want)
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("reading keyspace %s: %w", ks, err)
	}
	if want := min(writes, r.cfg.Keys); n != want {
		return fmt.Errorf("keyspace %s holds %d rows, want %d", ks, n, want)
	}
	return nil
}

// start starts the NATS server and connects to it and to Cassandra.
func (r *run) start() error {
	var err error
	if r.dir, err = os.MkdirTemp("", "joinbench-"); err != nil {
		return err
	}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	r.prefix = "jb" + hex.EncodeToString(tag[:])
	r.subj = messages.NewSubjects(r.prefix)
	// A user of its own: the workers then never fall back to the local
	// credentials of `make up` (natsauth.LocalWorkerNKey).
	pass := hex.EncodeToString(tag[:]) + "pw"
	r.srv, err = server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: r.dir, SyncAlways: true,
		NoLog: true, NoSigs: true, Username: "bench", Password: pass,
	})
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	go r.srv.Start()
	if !r.srv.ReadyForConnections(10 * time.Second) {
		return errors.New("nats-server did not start within 10s")
	}
	r.url = fmt.Sprintf("nats://bench:%s@%s", pass, r.srv.Addr())
	if r.nc, err = nats.Connect(r.url); err != nil {
		return err
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return err
	}
	r.cl = client.New(r.nc, client.WithPrefix(r.prefix))
	c := gocql.NewCluster(r.cfg.Hosts...)
	c.Timeout = time.Minute
	if r.session, err = c.CreateSession(); err != nil {
		return fmt.Errorf("connecting to Cassandra at %v: %w", r.cfg.Hosts, err)
	}
	return nil
}

func (r *run) close() {
	for _, w := range r.workers {
		w.stop()
	}
	if r.session != nil {
		for _, ks := range r.ks {
			if err := r.session.Query(`DROP KEYSPACE IF EXISTS "` + ks + `"`).Exec(); err != nil {
				r.log.Warn("dropping a keyspace", "keyspace", ks, "err", err)
			}
		}
		r.session.Close()
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

func (r *run) workerConfig(id string) worker.Config {
	cfg := worker.DefaultConfig()
	cfg.ID, cfg.Keyspace, cfg.SubjectPrefix = id, r.prefix+"_"+id, r.prefix
	cfg.NATSURL, cfg.CassandraHosts = r.url, r.cfg.Hosts
	cfg.SnapshotEvery, cfg.LogRetain = 0, r.cfg.Retain // snapshots only when asked
	if r.cfg.SnapshotTimeout > 0 {
		cfg.SnapshotTimeout = r.cfg.SnapshotTimeout
	}
	if r.cfg.DedupWindow > 0 {
		cfg.DedupWindow = r.cfg.DedupWindow
	}
	r.ks = append(r.ks, cfg.Keyspace)
	return cfg
}

type running struct {
	id     string
	cancel context.CancelFunc
	exited chan struct{} // closed when Run has returned err
	err    error
}

// stop stops the worker, once.
func (w *running) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.exited
	w.cancel = nil
}

// failed is Run's error if the worker has ended on its own.
func (w *running) failed() error {
	select {
	case <-w.exited:
		if w.cancel == nil {
			return nil // stopped
		}
		return fmt.Errorf("worker %s ended: %v", w.id, w.err)
	default:
		return nil
	}
}

func (r *run) startWorker(parent context.Context, cfg worker.Config) (*running, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := r.cfg.WorkerLog
	if out == nil {
		out = io.Discard
	}
	ctx, cancel := context.WithCancel(parent)
	log := slog.New(slog.NewTextHandler(out, nil)).With("worker", cfg.ID)
	w, err := worker.New(ctx, cfg, log, worker.CassandraOpener(cfg, log))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting worker %s: %w", cfg.ID, err)
	}
	run := &running{id: cfg.ID, cancel: cancel, exited: make(chan struct{})}
	go func() { run.err = w.Run(ctx); close(run.exited) }()
	r.workers = append(r.workers, run)
	return run, nil
}

// waitLive polls the leader's status until worker w is live and has
// applied seq at least; it returns what w has applied then.
func (r *run) waitLive(ctx context.Context, w *running, seq uint64) (uint64, error) {
	id := w.id
	deadline := time.Now().Add(r.cfg.PhaseTimeout)
	lastLog := time.Now()
	var last string
	for {
		if err := w.failed(); err != nil {
			return 0, err
		}
		st, err := r.cl.Status(ctx, client.WithTimeout(2*time.Second))
		if err == nil {
			for _, w := range st.Workers {
				if w.ID != id {
					continue
				}
				if w.Live && w.Applied >= seq && st.Leader != "" {
					return w.Applied, nil
				}
				last = fmt.Sprintf("%s is %s, applied %d of %d", id, w.State, w.Applied, st.LastSeq)
				if w.Restoring != nil {
					last += fmt.Sprintf(", restoring %d of %d bytes", w.Restoring.Bytes, w.Restoring.Total)
				}
			}
		} else {
			last = err.Error()
		}
		if time.Since(lastLog) > 10*time.Second {
			r.log.Info("waiting", "for", id, "status", last)
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s not live within %s: %s", id, r.cfg.PhaseTimeout, last)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling pace
		}
	}
}

// waitTrim polls the status until the log starts at want at least (the
// leader trims about a second after the snapshot is stored).
func (r *run) waitTrim(ctx context.Context, want uint64) (uint64, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := r.cl.Status(ctx, client.WithTimeout(2*time.Second))
		if err == nil && st.FirstSeq >= want {
			return st.FirstSeq, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the log was not trimmed to seq %d within a minute (status: %+v, %v)", want, st, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling pace
		}
	}
}

func (r *run) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	st, err := r.js.Stream(ctx, r.subj.StreamName())
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// streamDisk is the size of the ORDER stream's files in the store
// directory (the global account's).
func (r *run) streamDisk() int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(r.dir, "jetstream", "$G", "streams", r.subj.StreamName()), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
