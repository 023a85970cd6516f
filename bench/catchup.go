package bench

// CatchUpPoint is one reading of the catch-up measurement (package
// bench/catchup): the stopped worker's and the leader's metrics, scraped
// together. T is in seconds since the stopped worker was started again.
type CatchUpPoint struct {
	T             float64 `json:"t"`
	Applied       float64 `json:"applied"`        // the worker's chorus_writes_applied_total (since its process started)
	AppliedSeq    float64 `json:"applied_seq"`    // its chorus_applied_seq
	Committed     float64 `json:"committed"`      // the leader's chorus_writes_committed_total
	LeaderApplied float64 `json:"leader_applied"` // the leader's chorus_writes_applied_total
	LeaderSeq     float64 `json:"leader_seq"`     // the leader's chorus_applied_seq
	Live          float64 `json:"live"`           // members the leader counts live
}

// CatchUp is what the catch-up measurement found: a follower stopped
// (SIGTERM) for Pause under the closed-loop load while the others commit,
// then started again, catches up with the log. Its apply rate is taken from
// its first reading after the restart until it has applied everything the
// leader had applied at that reading (the backlog): it replays history and
// never waits for new entries. The cluster's commit rate is taken over the
// same period. Rates in writes/s.
type CatchUp struct {
	Worker           string         `json:"worker"`
	Leader           string         `json:"leader"`
	Pause            float64        `json:"pause_s"`            // from the stop to the restart
	Startup          float64        `json:"startup_s"`          // from the restart to its first metrics reading
	BacklogEntries   float64        `json:"backlog_entries"`    // log entries it lacked at that reading
	BacklogWrites    float64        `json:"backlog_writes"`     // writes it lacked then (from the applied counters)
	CaughtUp         bool           `json:"caught_up"`          // it applied the backlog before the measurement's timeout
	Time             float64        `json:"catch_up_s"`         // from that reading until the backlog was applied (or the timeout)
	Applied          float64        `json:"applied_writes"`     // writes it applied in that time
	ApplyRate        float64        `json:"apply_rate"`         // Applied ÷ Time
	CommitRate       float64        `json:"commit_rate"`        // the cluster's, over the same time
	CommitRateBefore float64        `json:"commit_rate_before"` // before the stop, every worker live
	CommitRateDown   float64        `json:"commit_rate_down"`   // while it was down
	Ratio            float64        `json:"ratio"`              // ApplyRate ÷ CommitRate; 0 if nothing was committed
	Rejoin           float64        `json:"rejoin_s,omitempty"` // from the restart until the leader counted every worker live again; 0: not seen
	Points           []CatchUpPoint `json:"points,omitempty"`
}

// CatchUpOf computes the catch-up from the readings: stopped is the last
// one before the worker was stopped (its old process's counters, which
// share their origin with the leader's: every worker applied the same log
// from its start), after every reading of the new process in time order;
// workers is the cluster's size (for the rejoin).
func CatchUpOf(stopped CatchUpPoint, after []CatchUpPoint, workers int) CatchUp {
	var c CatchUp
	if len(after) == 0 {
		return c
	}
	first := after[0]
	c.Startup = first.T
	c.BacklogEntries = first.LeaderSeq - first.AppliedSeq
	c.BacklogWrites = first.LeaderApplied - (stopped.Applied + first.Applied)
	end := first
	for _, p := range after[1:] {
		end = p
		if p.AppliedSeq >= first.LeaderSeq {
			c.CaughtUp = true
			break
		}
	}
	if first.AppliedSeq >= first.LeaderSeq { // nothing to catch up on (yet)
		c.CaughtUp, end = true, first
	}
	for _, p := range after {
		if workers > 0 && p.Live >= float64(workers) && p.AppliedSeq >= first.LeaderSeq {
			c.Rejoin = p.T
			break
		}
	}
	c.Time = end.T - first.T
	c.Applied = end.Applied - first.Applied
	if c.Time > 0 {
		c.ApplyRate = c.Applied / c.Time
		c.CommitRate = (end.Committed - first.Committed) / c.Time
	}
	if c.CommitRate > 0 {
		c.Ratio = c.ApplyRate / c.CommitRate
	}
	return c
}
