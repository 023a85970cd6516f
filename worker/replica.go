package worker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// ReplicaAction is something the apply loop must do for the Replica.
type ReplicaAction interface{ isReplicaAction() }

// ApplyRun asks for the ORDERs of Steps to be applied to the store in one
// call, and the result reported with Replica.Stored (at once when Orders
// is empty: markers and skipped entries store nothing). The Replica has
// at most one run with the store at a time.
type ApplyRun struct {
	Steps  []Step
	Orders []messages.Order // the entries of Steps the store applies (writes, membership)
}

// TakeSnapshot asks for the keyspace to be snapshotted now, as of Seq: the
// replica applies nothing more until SnapshotDone. Members are the
// cluster's members at Seq.
type TakeSnapshot struct {
	Seq, Epoch uint64
	Timestamp  int64 // of the ORDER at Seq
	Members    []messages.Member
}

// Behind says the log no longer holds the next entry this replica needs:
// the worker must restore its keyspace from the newest snapshot (the same
// path as at start) and then continue.
type Behind struct {
	First, Applied uint64
}

// Removed says this replica was taken out of the cluster for good at Seq:
// the worker must stop. It can rejoin under its ID only with a new keyspace.
type Removed struct {
	Seq    uint64
	Reason string
}

// SendAck asks for Ack to be published to the leader.
type SendAck struct{ Ack messages.Ack }

// RestartConsumer asks for the log consumer to be started again at From:
// it left a gap, or delivered nothing while the replica is behind. What
// the old consumer still delivers must be discarded.
type RestartConsumer struct {
	From   uint64
	Reason string
}

// ReplicaNotice is worth logging.
type ReplicaNotice struct {
	Warn bool
	Msg  string
}

func (ApplyRun) isReplicaAction()        {}
func (TakeSnapshot) isReplicaAction()    {}
func (Removed) isReplicaAction()         {}
func (Behind) isReplicaAction()          {}
func (SendAck) isReplicaAction()         {}
func (RestartConsumer) isReplicaAction() {}
func (ReplicaNotice) isReplicaAction()   {}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	ID string
	// Gen is the generation of this replica's keyspace.
	Gen string
	// MaxHeld bounds the entries held ahead of the apply.
	MaxHeld int
	// MaxWrites bounds the writes of one apply call (at least one entry).
	MaxWrites int
	// StallAfter: behind the log and no entry delivered or applied for
	// this long, the replica says it is stalled and restarts its consumer.
	StallAfter time.Duration
	// RetryMin and RetryMax pace the retries of a failed apply.
	RetryMin, RetryMax time.Duration
	// ApplyDeadline is the store's deadline for one apply call; a call
	// still out StallAfter past it is reported stalled (0: never).
	ApplyDeadline time.Duration
}

// DefaultReplicaConfig is the shipped pacing for worker id.
func DefaultReplicaConfig(id string) ReplicaConfig {
	return ReplicaConfig{ID: id, MaxHeld: DefaultMaxHeld, MaxWrites: 512, StallAfter: 5 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: 2 * time.Second}
}

// Replica is the apply side of a worker as one synchronous state machine:
// log entries as the consumer delivers them, store results and time go in;
// apply calls, ACKs and consumer restarts come out. It does no I/O; the
// worker's apply loop runs it on JetStream and Cassandra, the simulation
// on its model. One goroutine owns it.
type Replica struct {
	cfg ReplicaConfig
	ap  *Applier

	next  uint64 // the seq the consumer should deliver next
	known uint64 // the highest log seq known to exist

	run      []Step    // with the store
	runSince time.Time // when run went to the store
	overdue  bool      // run is out past its deadline: stalled says so
	retryAt  time.Time
	backoff  time.Duration
	stalled  string
	lastMove time.Time // last entry taken or applied

	skipped uint64

	maxTS        int64                      // the highest write timestamp applied
	members      map[string]messages.Member // as applied
	membersVer   uint64                     // bumped by every change of members
	snapshotting bool                       // TakeSnapshot out: apply nothing
	removed      bool
}

// NewReplica starts after seq applied, in epoch; the consumer must start
// at Next().
func NewReplica(cfg ReplicaConfig, applied, epoch uint64, now time.Time) *Replica {
	if cfg.MaxWrites <= 0 {
		cfg.MaxWrites = 1
	}
	return &Replica{cfg: cfg, ap: NewApplier(applied, epoch, cfg.MaxHeld), next: applied + 1, known: applied,
		backoff: cfg.RetryMin, lastMove: now, members: map[string]messages.Member{}}
}

// SetTimestampFloor sets the highest write timestamp the keyspace holds
// (at start: that of its progress record).
func (r *Replica) SetTimestampFloor(ts int64) { r.maxTS = max(r.maxTS, ts) }

// MaxTimestamp is the highest write timestamp this replica has applied: a
// new leader hands out timestamps above it, whatever the log's last entry
// says (a deposed leader's skipped entry can end the log with a lower one).
func (r *Replica) MaxTimestamp() int64 { return r.maxTS }

// SetMembers loads the members the keyspace holds (at start).
func (r *Replica) SetMembers(ms []messages.Member) {
	for _, m := range ms {
		r.members[m.ID] = m
	}
	r.membersVer++
}

// MembersVersion changes whenever the members do, so a caller copies
// Members only then.
func (r *Replica) MembersVersion() uint64 { return r.membersVer }

// Members are the cluster's members as this replica has applied them,
// sorted by ID.
func (r *Replica) Members() []messages.Member {
	out := make([]messages.Member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b messages.Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SnapshotDone reports the end of a TakeSnapshot: err nil if the snapshot
// is stored whole. Applying resumes either way.
func (r *Replica) SnapshotDone(seq uint64, err error, now time.Time) []ReplicaAction {
	r.snapshotting = false
	r.lastMove = now
	var acts []ReplicaAction
	if err != nil {
		acts = append(acts, ReplicaNotice{Warn: true, Msg: fmt.Sprintf("snapshot at seq %d failed: %v", seq, err)})
	} else {
		acts = append(acts, ReplicaNotice{Msg: fmt.Sprintf("keyspace read for the snapshot at seq %d; applying again while it uploads", seq)})
	}
	return append(acts, r.maybeApply(now)...)
}

// Applied is the last applied seq.
func (r *Replica) Applied() uint64 { return r.ap.Applied() }

// Epoch is the highest epoch applied.
func (r *Replica) Epoch() uint64 { return r.ap.Epoch() }

// Next is where the consumer must deliver next.
func (r *Replica) Next() uint64 { return r.next }

// Stalled says why the replica cannot make progress, "" if it can.
func (r *Replica) Stalled() string { return r.stalled }

// Known is the highest log seq the replica knows to exist.
func (r *Replica) Known() uint64 { return r.known }

// ReplicaStats are a replica's counters.
type ReplicaStats struct {
	Duplicates uint64 // entries delivered again
	Skipped    uint64 // entries no replica applies (garbage, deposed leaders)
	Held       int    // entries waiting to be applied
}

// Stats returns the replica's counters.
func (r *Replica) Stats() ReplicaStats {
	return ReplicaStats{Duplicates: r.ap.Duplicates(), Skipped: r.skipped, Held: r.ap.Held()}
}

// Deliver takes the entry at log seq the consumer delivered, with pending
// more after it in the log. It returns false when the replica holds all it
// may: the caller keeps the entry, stops reading, and delivers it again
// after the next Stored (the consumer waits meanwhile).
func (r *Replica) Deliver(seq uint64, data []byte, pending uint64, now time.Time) (bool, []ReplicaAction) {
	if seq+pending > r.known && r.ap.Applied() >= r.known {
		r.lastMove = now
	}
	r.known = max(r.known, seq+pending)
	switch {
	case seq < r.next:
		r.ap.Offer(seq, data) // counted as a duplicate
		return true, nil
	case seq > r.next:
		// The consumer skipped entries: read them again from the log
		// rather than wait for what will never come.
		from := r.ap.Applied() + 1
		reason := fmt.Sprintf("the log consumer delivered seq %d while seq %d was due", seq, r.next)
		r.next = from
		return true, []ReplicaAction{RestartConsumer{From: from, Reason: reason}}
	}
	if r.ap.Offer(seq, data) == Full {
		return false, r.maybeApply(now)
	}
	r.next++
	r.lastMove = now
	return true, r.maybeApply(now)
}

// LogBounds tells the replica what the log holds (read from the stream):
// it then knows when it is behind with nothing delivered, and when the
// log no longer holds the entry it needs.
func (r *Replica) LogBounds(first, last uint64, now time.Time) []ReplicaAction {
	if last > r.known && r.ap.Applied() >= r.known {
		r.lastMove = now // caught up until now: the stall clock starts here
	}
	r.known = max(r.known, last)
	if need := r.ap.Applied() + 1; first > need && last >= first && r.ap.Held() == 0 && r.run == nil {
		r.stalled = fmt.Sprintf("the log starts at seq %d but this replica needs seq %d (applied %d): restoring from the newest snapshot",
			first, need, r.ap.Applied())
		return []ReplicaAction{ReplicaNotice{Warn: true, Msg: r.stalled}, Behind{First: first, Applied: r.ap.Applied()}}
	}
	return nil
}

// Stored reports the result of the ApplyRun with the store: outs are the
// outcomes of its Orders, or err a storage failure (the same entries are
// applied again later, never skipped).
func (r *Replica) Stored(outs [][]messages.Outcome, err error, now time.Time) []ReplicaAction {
	run := r.run
	r.run = nil
	if run == nil {
		return nil
	}
	if err != nil {
		r.stalled = fmt.Sprintf("cannot apply seq %d: %v", run[0].Seq, err)
		r.retryAt = now.Add(r.backoff)
		r.backoff = min(2*r.backoff, r.cfg.RetryMax)
		return []ReplicaAction{ReplicaNotice{Warn: true, Msg: fmt.Sprintf("apply failed; retrying the same ORDERs in %s: %s", r.retryAt.Sub(now), r.stalled)}}
	}
	var acts []ReplicaAction
	if r.stalled != "" {
		acts = append(acts, ReplicaNotice{Msg: fmt.Sprintf("applying again at seq %d (was: %s)", run[0].Seq, r.stalled)})
		r.stalled = ""
	}
	r.backoff, r.lastMove = r.cfg.RetryMin, now
	ack := messages.Ack{Worker: r.cfg.ID, Epoch: r.ap.Epoch(), Applied: run[len(run)-1].Seq}
	n := 0
	var after []ReplicaAction
	for _, st := range run {
		switch st.Kind {
		case StepApply:
			ack.Outcomes = append(ack.Outcomes, outs[n]...)
			n++
		case StepMember:
			n++
			after = append(after, r.member(st)...)
		case StepSnapshot:
			if st.Order.SnapshotBy == r.cfg.ID {
				r.snapshotting = true
				after = append(after, TakeSnapshot{Seq: st.Seq, Epoch: max(r.ap.Epoch(), st.Order.Epoch), Timestamp: st.Order.Timestamp, Members: r.Members()})
			}
		case StepSkip:
			r.skipped++
			acts = append(acts, ReplicaNotice{Warn: true, Msg: fmt.Sprintf("skipping log entry seq %d: %s", st.Seq, st.Outcome.Error)})
			ack.Outcomes = append(ack.Outcomes, st.Outcome)
		}
		if st.Kind != StepSkip {
			ack.Epoch = max(ack.Epoch, st.Order.Epoch)
			r.maxTS = max(r.maxTS, st.Order.LastTimestamp())
		}
		r.ap.Done(st)
	}
	acts = append(acts, SendAck{Ack: ack})
	acts = append(acts, after...)
	return append(acts, r.maybeApply(now)...)
}

// member applies a membership change to the replica's view of members.
func (r *Replica) member(st Step) []ReplicaAction {
	ch := st.Order.Member
	r.members[ch.ID] = messages.Member{ID: ch.ID, Gen: ch.Gen, Removed: ch.Op == messages.MemberRemove, Seq: st.Seq}
	r.membersVer++
	if ch.Op == messages.MemberRemove && ch.ID == r.cfg.ID && ch.Gen == r.cfg.Gen {
		r.removed = true
		return []ReplicaAction{Removed{Seq: st.Seq, Reason: fmt.Sprintf(
			"worker %s (keyspace generation %s) was removed from the cluster at seq %d; to rejoin under this id, drop its keyspace and start it again (it restores from the newest snapshot)",
			ch.ID, ch.Gen, st.Seq)}}
	}
	return nil
}

// Tick advances time: a failed apply is retried when due, and a replica
// behind the log with nothing moving says so and reads the log again.
func (r *Replica) Tick(now time.Time) []ReplicaAction {
	acts := r.maybeApply(now)
	if r.run != nil && !r.overdue && r.cfg.ApplyDeadline > 0 && now.Sub(r.runSince) > r.cfg.ApplyDeadline+r.cfg.StallAfter {
		// The store call has a deadline, so this is a store that ignores
		// it: say so (heartbeats carry it to the leader's status) rather
		// than stand still without a word, or with the reason of an
		// earlier failure. Stored replaces it.
		r.overdue = true
		r.stalled = fmt.Sprintf("the store has not answered the apply of seq %d-%d, sent at %s with a deadline of %s",
			r.run[0].Seq, r.run[len(r.run)-1].Seq, r.runSince.UTC().Format(time.RFC3339Nano), r.cfg.ApplyDeadline)
		acts = append(acts, ReplicaNotice{Warn: true, Msg: r.stalled})
	}
	behind := r.ap.Applied() < r.known
	if r.run == nil && !r.snapshotting && !r.removed && behind && r.cfg.StallAfter > 0 && now.Sub(r.lastMove) > r.cfg.StallAfter && now.After(r.retryAt) {
		from := r.ap.Applied() + 1
		r.stalled = fmt.Sprintf("no log entry arrived for %s while behind the log (applied %d, log at %d): reading it again from seq %d",
			now.Sub(r.lastMove).Round(time.Millisecond), r.ap.Applied(), r.known, from)
		r.next, r.lastMove = from, now
		acts = append(acts, ReplicaNotice{Warn: true, Msg: r.stalled}, RestartConsumer{From: from, Reason: r.stalled})
	}
	return acts
}

// maybeApply starts the next run when the store is free and entries are
// ready: those that arrive meanwhile join the run after it, so a slow
// apply makes the next one bigger (replica-side group commit).
func (r *Replica) maybeApply(now time.Time) []ReplicaAction {
	if r.run != nil || r.snapshotting || r.removed || now.Before(r.retryAt) {
		return nil
	}
	run := r.ap.Run(r.cfg.MaxWrites)
	if len(run) == 0 {
		return nil
	}
	// The snapshot this replica takes is the state right after its
	// request, so the run stops there.
	for i, st := range run {
		if st.Kind == StepSnapshot && st.Order.SnapshotBy == r.cfg.ID {
			run = run[:i+1]
			break
		}
	}
	r.run, r.runSince, r.overdue = run, now, false
	var orders []messages.Order
	for _, st := range run {
		if st.Kind.stores() {
			orders = append(orders, st.Order)
		}
	}
	return []ReplicaAction{ApplyRun{Steps: run, Orders: orders}}
}
