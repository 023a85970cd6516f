package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is what a worker knows at one instant, read at every scrape for
// the gauges and for the counters kept by the protocol cores (their
// Stats()). Counters must never go down over a worker's life.
type State struct {
	// The replica.
	Applied   uint64 // last log seq applied
	Known     uint64 // highest log seq known to exist
	Epoch     uint64 // highest epoch applied
	Stalled   bool   // the replica says it cannot make progress
	Restoring bool   // loading a snapshot
	Held      int    // entries delivered, waiting to be applied

	// The leader side.
	Leading     bool   // holds the lease and has started a term
	LeaderReady bool   // leads and serves writes
	LeaderEpoch uint64 // the term's epoch while leading
	// Members counts the cluster's members by state, as the leader sees
	// them; nil when this worker does not lead (then no series).
	Members map[string]int

	// The change feed while this worker leads: FeedLag is the committed
	// log entries not yet published (FeedKnown false: not leading, or
	// the feed's position not read yet).
	FeedKnown               bool
	FeedLag                 uint64
	FeedPublished, FeedGaps uint64

	// The log, from the stream's info (LogRead false: not read yet).
	LogRead                     bool
	LogFirst, LogLast, LogBytes uint64

	// The newest complete snapshot (SnapshotSeq 0: none known).
	SnapshotSeq uint64
	SnapshotAt  time.Time

	// Counters of the cores and the connection.
	Garbage              uint64 // internal messages dropped as undecodable
	Rejected             uint64 // FORWARDs dropped by the admission checks (forged)
	Ignored              uint64 // ACKs and heartbeats of removed members ignored
	Divergences          uint64 // writes whose replicas disagreed on the outcome
	Skipped              uint64 // log entries skipped (garbage, deposed leaders)
	Duplicates           uint64 // log entries delivered again
	NATSConnected        bool
	Reconnects           uint64
	SlowConsumers        uint64
	PermissionViolations uint64
}

type gauge struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(State, time.Time) (float64, bool)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var stateMetrics = []gauge{
	{newDesc("applied_seq", "Replica: the last log seq applied to this worker's keyspace."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Applied), true }},
	{newDesc("replica_lag", "Replica: log entries behind the end of the log as this worker knows it."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Known - min(s.Known, s.Applied)), true }},
	{newDesc("replica_stalled", "Replica: 1 if it cannot make progress (apply failing, nothing delivered while behind); /readyz says why."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return b2f(s.Stalled), true }},
	{newDesc("replica_restoring", "Replica: 1 while its keyspace is loaded from a snapshot."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return b2f(s.Restoring), true }},
	{newDesc("replica_held_entries", "Replica: log entries delivered and waiting to be applied."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Held), true }},
	{newDesc("epoch", "The highest leader epoch this worker's replica has applied."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Epoch), true }},
	{newDesc("leader", "1 if this worker leads (holds the lease and has started a term)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return b2f(s.Leading), true }},
	{newDesc("leader_ready", "1 if this worker leads and serves writes (caught up with the log)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return b2f(s.LeaderReady), true }},
	{newDesc("leader_epoch", "The epoch of the term this worker leads (0 when it follows)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.LeaderEpoch), true }},
	{newDesc("log_first_seq", "The ORDER log's first seq (entries before it were trimmed)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.LogFirst), s.LogRead }},
	{newDesc("log_last_seq", "The ORDER log's last seq."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.LogLast), s.LogRead }},
	{newDesc("log_bytes", "Bytes the ORDER log's stream holds."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.LogBytes), s.LogRead }},
	{newDesc("snapshot_seq", "The log seq of the newest complete snapshot (0: none)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.SnapshotSeq), true }},
	{newDesc("snapshot_age_seconds", "Seconds since the newest complete snapshot was taken (no series while there is none)."), prometheus.GaugeValue,
		func(s State, now time.Time) (float64, bool) {
			return now.Sub(s.SnapshotAt).Seconds(), s.SnapshotSeq > 0 && !s.SnapshotAt.IsZero()
		}},
	{newDesc("feed_lag", "Leader: committed log entries the change feed has not published yet (no series while it does not know where it stands)."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.FeedLag), s.FeedKnown }},
	{newDesc("feed_published_total", "Changes this worker published on the change feed while it led."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.FeedPublished), true }},
	{newDesc("feed_unknown_total", "Committed writes published on the feed's gap subject: their outcome was no longer known (the feed was behind by more than the dedup window)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.FeedGaps), true }},
	{newDesc("garbage_dropped_total", "Internal messages dropped because they do not decode (counted and logged, never applied)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Garbage), true }},
	{newDesc("forwards_rejected_total", "FORWARDs the leader dropped for failing the admission checks (forged: no worker's checks let them through)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Rejected), true }},
	{newDesc("removed_member_messages_total", "ACKs and heartbeats of removed members ignored by the leader side."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Ignored), true }},
	{newDesc("divergences_total", "Writes whose replicas reported different outcomes (must stay 0: deterministic apply)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Divergences), true }},
	{newDesc("log_entries_skipped_total", "Log entries no replica applies (undecodable, or a deposed leader's), skipped the same way everywhere."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Skipped), true }},
	{newDesc("log_entries_duplicate_total", "Log entries delivered again (after a consumer restart) and ignored."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Duplicates), true }},
	{newDesc("nats_connected", "1 while the worker's NATS connection is up."), prometheus.GaugeValue,
		func(s State, _ time.Time) (float64, bool) { return b2f(s.NATSConnected), true }},
	{newDesc("nats_reconnects_total", "Times the NATS connection was re-established."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.Reconnects), true }},
	{newDesc("nats_slow_consumers_total", "Times NATS reported a subscription of this worker as a slow consumer (it dropped messages)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.SlowConsumers), true }},
	{newDesc("nats_permission_violations_total", "Operations the NATS server refused this worker (its permissions are too narrow)."), prometheus.CounterValue,
		func(s State, _ time.Time) (float64, bool) { return float64(s.PermissionViolations), true }},
}

var membersDesc = newDesc("members", "Leader: the cluster's members by state (live: in the ACK set; joining: catching up; out: silent or stuck; removed; unknown: heard from, not a member). Only the leader has series.", "state")

// stateCollector turns a State into metrics at every scrape.
type stateCollector struct{ state func() State }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range stateMetrics {
		ch <- g.desc
	}
	ch <- membersDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s, now := c.state(), time.Now()
	for _, g := range stateMetrics {
		if v, ok := g.value(s, now); ok {
			ch <- prometheus.MustNewConstMetric(g.desc, g.kind, v)
		}
	}
	if s.Members != nil {
		for _, st := range MemberStates {
			ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(s.Members[st]), st)
		}
	}
}
