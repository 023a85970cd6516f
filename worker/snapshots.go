package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/snapshot"
	"github.com/chorusdb/chorus/store"
)

// Snapshotter is a store that can be snapshotted and restored. Not every
// store can (CHORUS_NOOP_STORE holds no data): such a worker declines to
// take snapshots and cannot restore.
type Snapshotter interface {
	// Export writes the keyspace as of now (the apply loop is paused).
	Export(ctx context.Context, w io.Writer) (store.SnapshotStats, error)
	// Import loads a snapshot into the empty keyspace.
	Import(ctx context.Context, r io.Reader, progress func(store.RestoreProgress)) (store.State, error)
	// Adopt records that the keyspace continues the log after applied,
	// writing with timestamp ts (that of the snapshot's ORDER: above every
	// write before it, below every write after it).
	Adopt(ctx context.Context, applied, epoch uint64, ts int64, members []messages.Member) error
	// Reset empties the keyspace (a new generation), so a replica behind
	// the log's first entry can be restored into it.
	Reset(ctx context.Context) (store.State, error)
}

// ErrRemoved is returned by Run when this worker was removed from the
// cluster.
var ErrRemoved = errors.New("worker: removed from the cluster")

// restorePlan decides, at start, whether the keyspace must be loaded from
// a snapshot: it is empty and a snapshot exists (faster than replaying the
// log), or it is behind the log's first entry. It returns the snapshot to
// load, or nil to continue from the log.
func (w *Worker) restorePlan(ctx context.Context, applied uint64) (*snapshot.Manifest, error) {
	info, err := w.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ORDER log: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if applied > last {
		return nil, fmt.Errorf("%w: keyspace %s has applied seq %d but the log %s ends at %d (was the log reset?); restore the log or drop the keyspace to rebuild it",
			ErrLogBehind, w.cfg.KeyspaceName(), applied, w.subjects.StreamName(), last)
	}
	behind := applied < last && first > applied+1
	if applied > 0 && !behind {
		return nil, nil // continue from the log
	}
	m, err := w.snapshots.Latest(ctx)
	switch {
	case errors.Is(err, snapshot.ErrNone) && !behind:
		return nil, nil // a new keyspace and no snapshot: replay the log from seq 1
	case errors.Is(err, snapshot.ErrNone):
		return nil, fmt.Errorf("%w: keyspace %s needs seq %d but the log %s starts at %d and there is no snapshot in %s: restore it from another replica",
			ErrLogBehind, w.cfg.KeyspaceName(), applied+1, w.subjects.StreamName(), first, w.subjects.SnapshotBucket())
	case err != nil:
		return nil, err
	case m.Seq+1 < first:
		return nil, fmt.Errorf("%w: the newest snapshot (seq %d) is older than the log's first entry (seq %d): nothing can rebuild keyspace %s",
			ErrLogBehind, m.Seq, first, w.cfg.KeyspaceName())
	case applied >= m.Seq:
		return nil, nil // ahead of the snapshot and not behind the log
	}
	if _, ok := w.store.(Snapshotter); !ok {
		return nil, fmt.Errorf("keyspace %s must be restored from the snapshot at seq %d, but this store cannot restore (CHORUS_NOOP_STORE?)", w.cfg.KeyspaceName(), m.Seq)
	}
	return &m, nil
}

// restore loads snapshot m into the keyspace, reporting progress in the
// heartbeat and the log, and continues the log after it.
func (w *Worker) restore(ctx context.Context, m snapshot.Manifest, applied uint64) error {
	sn := w.store.(Snapshotter)
	if applied > 0 {
		w.log.Warn("keyspace is behind the log's first entry: emptying it to restore the newest snapshot", "applied", applied, "snapshot_seq", m.Seq)
	}
	// Always empty it first: a restore that broke off leaves tables
	// without a progress record, and this one starts over cleanly.
	st, err := sn.Reset(ctx)
	if err != nil {
		return fmt.Errorf("emptying keyspace %s for a restore: %w", w.cfg.KeyspaceName(), err)
	}
	gen := st.Gen
	w.gen.Store(&gen)
	w.log.Info("restoring the keyspace from a snapshot", "seq", m.Seq, "bytes", m.Bytes, "rows", m.Rows, "by", m.By, "taken", m.At)
	start := time.Now()
	r, err := w.snapshots.Read(ctx, m)
	if err != nil {
		return err
	}
	defer r.Close()
	counted := &countingReader{r: r}
	prog := &messages.RestoreProgress{Seq: m.Seq, Total: m.Bytes}
	w.restoring.Store(prog)
	defer w.restoring.Store(nil)
	lastLog := time.Now()
	if _, err := sn.Import(ctx, counted, func(p store.RestoreProgress) {
		np := &messages.RestoreProgress{Seq: m.Seq, Total: m.Bytes, Bytes: counted.n.Load(), Rows: p.Rows}
		w.restoring.Store(np)
		if time.Since(lastLog) > 2*time.Second {
			lastLog = time.Now()
			w.log.Info("restoring", "seq", m.Seq, "bytes", np.Bytes, "of", m.Bytes, "rows", np.Rows)
		}
	}); err != nil {
		return fmt.Errorf("restoring keyspace %s from the snapshot at seq %d: %w (drop the keyspace and restart to try again)", w.cfg.KeyspaceName(), m.Seq, err)
	}
	if err := sn.Adopt(ctx, m.Seq, m.Epoch, m.Timestamp, m.Members); err != nil {
		return err
	}
	w.applied.Store(m.Seq)
	w.durable.Store(m.Seq)
	w.maxTS.Store(m.Timestamp)
	w.epoch.Store(m.Epoch)
	w.members = m.Members
	reqs, err := w.store.Requests(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, rq := range reqs {
		w.recent.Add(rq.ID, rq.Outcome, now)
	}
	w.log.Info("restored the keyspace from a snapshot; continuing from the log", "seq", m.Seq, "bytes", counted.n.Load(),
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type snapshotResult struct {
	seq uint64
	err error
}

// exportSnapshot writes the keyspace at a.Seq to a local file while the
// apply loop waits (the state at exactly that seq), then hands the upload
// to a goroutine, so the replica resumes applying as soon as it has read
// its keyspace.
func (w *Worker) exportSnapshot(ctx context.Context, a TakeSnapshot, done chan<- snapshotResult) {
	sn, ok := w.store.(Snapshotter)
	if !ok {
		done <- snapshotResult{a.Seq, errors.New("this store holds no data to snapshot (CHORUS_NOOP_STORE)")}
		return
	}
	f, err := os.CreateTemp("", "chorus-snapshot-*")
	if err != nil {
		done <- snapshotResult{a.Seq, err}
		return
	}
	start := time.Now()
	stats, err := sn.Export(ctx, f)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		done <- snapshotResult{a.Seq, fmt.Errorf("exporting keyspace %s: %w", w.cfg.KeyspaceName(), err)}
		return
	}
	done <- snapshotResult{seq: a.Seq} // the apply loop resumes
	exported := time.Since(start)
	go func() {
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			w.log.Warn("snapshot not stored", "seq", a.Seq, "err", err)
			return
		}
		m, err := w.snapshots.Put(ctx, snapshot.Manifest{
			Seq: a.Seq, Epoch: a.Epoch, Timestamp: a.Timestamp, By: w.cfg.ID, At: time.Now(), Format: store.SnapshotFormat, Rows: stats.Rows, Members: a.Members,
		}, f)
		if err != nil {
			w.log.Warn("snapshot not stored", "seq", a.Seq, "err", err)
			return
		}
		w.snapshotSeq.Store(a.Seq)
		w.noteSnapshot(m)
		w.log.Info("snapshot stored", "seq", a.Seq, "bytes", m.Bytes, "rows", m.Rows, "read_for", exported.Round(time.Millisecond),
			"total", time.Since(start).Round(time.Millisecond))
	}()
}

var _ Snapshotter = (*store.Memory)(nil)
var _ Snapshotter = (*store.Cassandra)(nil)
