package bench

import (
	"fmt"
	"io"
	"strings"
)

// JoinReport is what the join benchmark (bench/cmd/joinbench) measured:
// for each history length, how long a new worker takes to join by
// replaying the whole log and by restoring a snapshot, and what the
// snapshot and the log cost.
type JoinReport struct {
	Started  string `json:"started"`
	Keys     int    `json:"keys"`      // the fixed key set the writes overwrite
	PerOrder int    `json:"per_order"` // writes per crafted ORDER (group commit)
	Retain   uint64 `json:"retain"`    // CHORUS_LOG_RETAIN of the workers
	// DefaultRetain is chorus-worker's default CHORUS_LOG_RETAIN, to
	// state what the default keeps.
	DefaultRetain uint64       `json:"default_retain"`
	DedupWindow   string       `json:"dedup_window"` // CHORUS_DEDUP_WINDOW of the workers
	LoadBefore    string       `json:"load_before"`  // load average (1, 5, 15 min) before
	LoadAfter     string       `json:"load_after"`
	Command       string       `json:"command"`
	Results       []JoinResult `json:"results"`
}

// JoinResult is one history length of the join benchmark.
type JoinResult struct {
	Writes int `json:"writes"` // crafted writes (idempotent upserts)
	Orders int `json:"orders"` // crafted write ORDERs
	// The log when the snapshot was asked for (everything applied), and
	// after the leader trimmed it below the snapshot.
	LogEntries      uint64  `json:"log_entries"`
	LogBytes        uint64  `json:"log_bytes"`      // StreamInfo.State.Bytes
	LogDiskBytes    int64   `json:"log_disk_bytes"` // the stream's files in the store directory
	TrimmedFirstSeq uint64  `json:"trimmed_first_seq"`
	TrimmedBytes    uint64  `json:"trimmed_bytes"`
	TrimmedDisk     int64   `json:"trimmed_disk_bytes"`
	CraftSeconds    float64 `json:"craft_s"`
	// Worker A: empty keyspace, no snapshot: the log from seq 1 until live.
	ReplaySeconds float64 `json:"replay_s"`
	ReplayEntries uint64  `json:"replay_entries"`
	// The snapshot asked for on the admin subject, once A was live.
	SnapshotSeq     uint64  `json:"snapshot_seq"`
	SnapshotRows    int64   `json:"snapshot_rows"`
	SnapshotBytes   int64   `json:"snapshot_bytes"`
	SnapshotSeconds float64 `json:"snapshot_s"` // of the attempt that succeeded
	// SnapshotAttempts: 2 if the first request was given up
	// (CHORUS_SNAPSHOT_TIMEOUT) and asked again.
	SnapshotAttempts int `json:"snapshot_attempts"`
	// Worker B: empty keyspace, a new member: restores the snapshot and
	// applies the log after it, until live.
	JoinSeconds float64 `json:"join_s"`
	JoinEntries uint64  `json:"join_entries"` // log entries B applied after the snapshot
	Error       string  `json:"error,omitempty"`
}

// Ratio is the replay join time ÷ the snapshot join time; 0 if unknown.
func (r JoinResult) Ratio() float64 {
	if r.JoinSeconds <= 0 || r.ReplaySeconds <= 0 {
		return 0
	}
	return r.ReplaySeconds / r.JoinSeconds
}

// WriteJoinTable writes the join benchmark's table and what it means, in
// Markdown (a section body: no heading).
func WriteJoinTable(w io.Writer, r *JoinReport) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("A history of upserts `INSERT INTO kv (k, v) VALUES (k, 'text')` over a fixed set of %s keys,\n", thousands(int64(r.Keys)))
	p("%d writes per ORDER (as group commit makes them), is crafted into the log the way a leader appends it.\n", r.PerOrder)
	p("Worker A (empty keyspace, no snapshot yet) joins by replaying the whole log from seq 1; then a\n")
	p("snapshot is asked for (`chorus snapshot`), the leader trims the log below it (keeping %s entries,\n", thousands(int64(r.Retain)))
	p("`CHORUS_LOG_RETAIN`), and worker B (a new member, empty keyspace) joins by restoring the snapshot\n")
	p("and applying the rest of the log. Join time: from the worker's start until the leader's status\n")
	p("shows it live and caught up. One NATS server (in-process, JetStream file store, fsync always) and\n")
	p("the local Cassandra; exactly-once window `CHORUS_DEDUP_WINDOW=%s`.\n\n", r.DedupWindow)
	p("| history writes | ORDERs | log MB | log MB trimmed | join by replay | replay writes/s | snapshot rows | snapshot MB | snapshot time | join by snapshot | replay ÷ snapshot |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.Results {
		if x.Error != "" {
			p("| %s | %s | failed: %s | | | | | | | | |\n", thousands(int64(x.Writes)), thousands(int64(x.Orders)), cellText(x.Error))
			continue
		}
		rate := "—"
		if x.ReplaySeconds > 0 {
			rate = FormatRate(float64(x.Writes) / x.ReplaySeconds)
		}
		ratio := "—"
		if v := x.Ratio(); v > 0 {
			ratio = fmt.Sprintf("%.1f×", v)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			thousands(int64(x.Writes)), thousands(int64(x.Orders)), mb(int64(x.LogBytes)), mb(int64(x.TrimmedBytes)),
			seconds(x.ReplaySeconds), rate, thousands(x.SnapshotRows), mb(x.SnapshotBytes), seconds(x.SnapshotSeconds),
			seconds(x.JoinSeconds), ratio)
	}
	p("\nlog MB: the ORDER stream's bytes (JetStream `State.Bytes`) once A has applied it; trimmed: after the\n")
	p("leader trimmed it below the snapshot. ")
	for i, x := range r.Results {
		if x.Error != "" || x.LogEntries == 0 {
			continue
		}
		if i > 0 {
			p(" ")
		}
		p("%s writes: %s entries, %s bytes per entry (%s MB per million writes), files on disk %s MB, then %s MB from seq %s;",
			thousands(int64(x.Writes)), thousands(int64(x.LogEntries)), thousands(int64(x.LogBytes/x.LogEntries)),
			mb(int64(float64(x.LogBytes)/float64(x.Writes)*1e6)), mb(x.LogDiskBytes), mb(x.TrimmedDisk), thousands(int64(x.TrimmedFirstSeq)))
		p(" B applied %s entries after the snapshot.", thousands(int64(x.JoinEntries)))
		if x.SnapshotAttempts > 1 {
			p(" **The first snapshot request was not answered and given up; the time is the second's.**")
		}
	}
	if x, ok := r.bytesPerEntry(); ok && r.DefaultRetain > 0 {
		p("\nAt these %s bytes per entry, the default `CHORUS_LOG_RETAIN=%s` keeps about %s MB of log behind the newest snapshot.",
			thousands(int64(x)), thousands(int64(r.DefaultRetain)), mb(int64(x*float64(r.DefaultRetain))))
	}
	p("\nThe snapshot holds the keyspace's rows and the exactly-once request records still in their window\n")
	p("(one per write of the last `CHORUS_DEDUP_WINDOW`): snapshot MB counts both, snapshot rows only the rows.\n")
	if r.LoadBefore != "" {
		p("Load average (1, 5, 15 min) before: %s; after: %s.\n", r.LoadBefore, r.LoadAfter)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// bytesPerEntry is the log's bytes per entry of the longest history.
func (r *JoinReport) bytesPerEntry() (float64, bool) {
	var best *JoinResult
	for i := range r.Results {
		if x := &r.Results[i]; x.Error == "" && x.LogEntries > 0 && (best == nil || x.LogEntries > best.LogEntries) {
			best = x
		}
	}
	if best == nil {
		return 0, false
	}
	return float64(best.LogBytes) / float64(best.LogEntries), true
}

func mb(n int64) string {
	switch v := float64(n) / 1e6; {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func seconds(s float64) string {
	switch {
	case s <= 0:
		return "—"
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	case s < 600:
		return fmt.Sprintf("%.0f s", s)
	default:
		return fmt.Sprintf("%.1f min", s/60)
	}
}
