package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
	"github.com/chorusdb/chorus/snapshot"
)

// How often a worker asks the leader how it sees the cluster (for
// /readyz: is this worker in the ACK set?) and reads the newest snapshot's
// manifest (for chorus_snapshot_age_seconds).
const (
	clusterWatchEvery  = time.Second
	snapshotWatchEvery = 15 * time.Second
)

// logInfo is the ORDER log's state as readBounds last read it.
type logInfo struct{ first, last, bytes uint64 }

// snapshotInfo is the newest complete snapshot known.
type snapshotInfo struct {
	seq uint64
	at  time.Time
}

// clusterView is the leader's status as this worker last received it.
type clusterView struct {
	status messages.Status
	at     time.Time // of the last answer (zero: none yet)
	err    string    // of the last attempt, "" if it succeeded
}

// Handler serves the worker's /metrics, /healthz and /readyz
// (CHORUS_METRICS_ADDR).
func (w *Worker) Handler() http.Handler { return w.handler }

// noteSnapshot records a complete snapshot, if it is the newest known.
func (w *Worker) noteSnapshot(m snapshot.Manifest) {
	for {
		old := w.latestSnap.Load()
		if old != nil && old.seq >= m.Seq {
			return
		}
		if w.latestSnap.CompareAndSwap(old, &snapshotInfo{seq: m.Seq, at: m.At}) {
			return
		}
	}
}

// watchCluster keeps the leader's view of this worker and the newest
// snapshot's manifest fresh, for health and metrics.
func (w *Worker) watchCluster(ctx context.Context) {
	t := time.NewTicker(clusterWatchEvery)
	defer t.Stop()
	var snapAt time.Time
	for {
		now := time.Now()
		if now.Sub(snapAt) >= snapshotWatchEvery {
			snapAt = now
			sctx, cancel := context.WithTimeout(ctx, snapshotWatchEvery)
			m, err := w.snapshots.Latest(sctx)
			cancel()
			if err == nil {
				w.noteSnapshot(m)
			} else if !errors.Is(err, snapshot.ErrNone) && ctx.Err() == nil {
				w.log.Debug("cannot read the newest snapshot's manifest", "err", err)
			}
		}
		if !w.node.View().Leading { // a leader knows its own view
			w.askStatus(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) askStatus(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, clusterWatchEvery)
	defer cancel()
	next := clusterView{}
	if old := w.cluster.Load(); old != nil {
		next = *old
	}
	resp, err := w.nc.RequestWithContext(rctx, w.subjects.Status(), nil)
	if err == nil {
		var st messages.Status
		if err = json.Unmarshal(resp.Data, &st); err == nil {
			next = clusterView{status: st, at: time.Now()}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		next.err = err.Error()
	}
	w.cluster.Store(&next)
}

// clusterStale is how old the leader's last status answer may be for
// /readyz to trust it: past it, there is no leader to write through.
func (w *Worker) clusterStale() time.Duration { return max(3*time.Second, 2*w.cfg.LeaseTTL) }

// healthy is /healthz: the process is up and connected to NATS.
func (w *Worker) healthy() (bool, string) {
	if !w.nc.IsConnected() {
		return false, fmt.Sprintf("not healthy: the NATS connection is %s (CHORUS_NATS_URL %s)", w.nc.Status(), w.cfg.NATSURL)
	}
	return true, fmt.Sprintf("ok: worker %s is up, connected to NATS at %s", w.cfg.ID, w.nc.ConnectedUrlRedacted())
}

// readiness is /readyz: this worker leads and serves writes, or its
// replica is caught up (not stalled, not restoring) and the leader has it
// in the ACK set. The text says why not.
func (w *Worker) readiness() (bool, string) {
	applied := w.applied.Load()
	last := w.known.Load()
	if b := w.logBounds.Load(); b != nil {
		last = max(last, b.last)
	}
	progress := fmt.Sprintf("applied %d of %d", applied, max(last, applied))
	if !w.nc.IsConnected() {
		return false, fmt.Sprintf("not ready: %s, NATS connection %s", progress, w.nc.Status())
	}
	if p := w.restoring.Load(); p != nil {
		return false, fmt.Sprintf("not ready: restoring the keyspace from the snapshot at seq %d: %d of %d bytes, %d rows loaded", p.Seq, p.Bytes, p.Total, p.Rows)
	}
	v := w.node.View()
	switch {
	case v.Ready:
		return true, fmt.Sprintf("ready: leading epoch %d, %s", v.Epoch, progress)
	case v.Leading:
		return false, fmt.Sprintf("not ready: leading epoch %d but not serving writes yet (own replica %s)", v.Epoch, progress)
	}
	if s := w.stalled.Load(); s != nil {
		return false, fmt.Sprintf("not ready: %s, stalled: %s", progress, *s)
	}
	c := w.cluster.Load()
	if c == nil || c.at.IsZero() {
		why := "no answer yet"
		if c != nil && c.err != "" {
			why = c.err
		}
		return false, fmt.Sprintf("not ready: %s, no leader has answered status (%s)", progress, why)
	}
	if age := time.Since(c.at); age > w.clusterStale() {
		return false, fmt.Sprintf("not ready: %s, no leader has answered status for %s (%s)", progress, age.Round(time.Second), c.err)
	}
	for _, sw := range c.status.Workers {
		if sw.ID != w.cfg.ID {
			continue
		}
		if sw.State != messages.StateLive {
			why := fmt.Sprintf("not ready: %s, not in the ACK set: leader %s (epoch %d) sees this worker %s with %d applied",
				progress, c.status.Leader, c.status.Epoch, sw.State, sw.Applied)
			if sw.ETA != "" {
				why += ", about " + sw.ETA + " to catch up"
			}
			return false, why
		}
		return true, fmt.Sprintf("ready: %s, in the ACK set of leader %s (epoch %d)", progress, c.status.Leader, c.status.Epoch)
	}
	return false, fmt.Sprintf("not ready: %s, leader %s (epoch %d) has not heard from this worker", progress, c.status.Leader, c.status.Epoch)
}

// metricsState is what the gauges show at a scrape.
func (w *Worker) metricsState() metrics.State {
	st := metrics.State{
		Applied: w.applied.Load(), Known: w.known.Load(), Epoch: w.epoch.Load(),
		Stalled: w.stalled.Load() != nil, Restoring: w.restoring.Load() != nil,
		SlowConsumers: w.connStats.SlowConsumer.Load(), PermissionViolations: w.connStats.PermissionViolation.Load(),
	}
	if r := w.replicaStats.Load(); r != nil {
		st.Held, st.Skipped, st.Duplicates = r.Held, r.Skipped, r.Duplicates
	}
	if b := w.logBounds.Load(); b != nil {
		st.LogRead, st.LogFirst, st.LogLast, st.LogBytes = true, b.first, b.last, b.bytes
		st.Known = max(st.Known, b.last)
	}
	if s := w.latestSnap.Load(); s != nil {
		st.SnapshotSeq, st.SnapshotAt = s.seq, s.at
	}
	if w.nc != nil {
		st.NATSConnected = w.nc.IsConnected()
		st.Reconnects = w.nc.Stats().Reconnects
	}
	if w.feed != nil {
		fs := w.feed.Stats()
		st.FeedPublished, st.FeedGaps = fs.Published, fs.Unknown
	}
	if w.node != nil {
		ns, v := w.node.Stats(), w.node.View()
		st.Garbage, st.Rejected = ns.Garbage, ns.Rejected
		st.Ignored, st.Divergences = v.Sequencer.Ignored, v.Sequencer.Divergences
		st.Leading, st.LeaderReady = v.Leading, v.Ready
		if v.Leading {
			st.LeaderEpoch = v.Epoch
		}
		if v.Ready && w.feed != nil {
			if need := w.feed.Needs(); need > 0 {
				st.FeedKnown, st.FeedLag = true, v.Status.Committed+1-min(need, v.Status.Committed+1)
			}
		}
		if v.Ready {
			st.Members = map[string]int{}
			for _, sw := range v.Status.Workers {
				st.Members[sw.State]++
			}
		}
	}
	return st
}
