package leader

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// Policy is how the leader keeps the log bounded and the members known.
type Policy struct {
	// SnapshotEvery: a snapshot is requested every this many log entries
	// (0: only on demand).
	SnapshotEvery uint64
	// Retain: entries kept behind the newest snapshot when trimming.
	Retain uint64
	// SnapshotTimeout: a requested snapshot not reported done by then is
	// given up (and requested again later).
	SnapshotTimeout time.Duration
	// Roster returns the members this worker's replica has applied; the
	// leader loads it once its replica has applied its epoch marker.
	Roster func() []messages.Member
	// TimestampFloor returns the highest write timestamp this worker's
	// replica has applied; once it has applied the epoch marker, the
	// leader's timestamps go above it.
	TimestampFloor func() int64
	// FeedNeeds returns the first log entry the change feed has not
	// published yet (0: not known yet); the log is kept from there on.
	// Nil: no change feed.
	FeedNeeds func() uint64
}

// Trim asks the Node to delete the log's entries below KeepFrom and to
// report the log's new first seq with Core.Trimmed.
type Trim struct{ KeepFrom uint64 }

func (Trim) isAction() {}

// trimEvery paces trims: each is a request to the stream.
const trimEvery = time.Second

// snapRequest is a snapshot asked for and not yet reported done.
type snapRequest struct {
	seq, epoch uint64
	by         string
	at         time.Time
	inboxes    []string
}

// adminWaiter is an admin request answered once seq is committed.
type adminWaiter struct {
	inbox, what string
}

// SetPolicy sets how the log is bounded and where the members come from.
func (s *Sequencer) SetPolicy(p Policy) { s.policy = p }

// SetLog tells the sequencer the log's first seq and the newest complete
// snapshot (read with the log's tail when the lease is won).
func (s *Sequencer) SetLog(first, snapshot uint64) {
	s.firstSeq, s.snapshotSeq = first, max(s.snapshotSeq, snapshot)
}

// Trimmed reports the result of a Trim: the log now starts at first.
func (s *Sequencer) Trimmed(first uint64, err error) []Action {
	s.trimming = false
	if err != nil {
		return []Action{Notice{Warn: true, Msg: fmt.Sprintf("cannot trim the log: %v", err)}}
	}
	if first > s.firstSeq {
		s.firstSeq = first
		return []Action{Notice{Msg: fmt.Sprintf("log trimmed: it now starts at seq %d (newest snapshot at seq %d)", first, s.snapshotSeq)}}
	}
	return nil
}

// removedGen reports whether (id, gen) was taken out for good.
func (s *Sequencer) removedGen(id, gen string) bool {
	r, ok := s.roster[id]
	return ok && r.Removed && gen != "" && r.Gen == gen
}

// loadRoster takes the members from the leader's own replica, once it has
// applied everything before this term.
func (s *Sequencer) loadRoster() {
	if s.policy.TimestampFloor != nil {
		// The log's last entry may be a deposed leader's, skipped by every
		// replica, with a lower timestamp than the writes before it.
		s.lastTS = max(s.lastTS, s.policy.TimestampFloor())
	}
	s.roster = map[string]messages.Member{}
	if s.policy.Roster != nil {
		for _, m := range s.policy.Roster() {
			s.roster[m.ID] = m
		}
	}
	for id, m := range s.members {
		if s.removedGen(id, m.gen) {
			m.live = false
		}
	}
}

// special appends an ORDER that carries no client write (membership, a
// snapshot request) in this term.
func (s *Sequencer) special(o messages.Order, now time.Time) []Action {
	o.Epoch, o.Seq, o.Timestamp, o.Leader = s.epoch, s.nextSeq(), s.nextTS(now), s.id
	s.pending = append(s.pending, &entry{seq: o.Seq, appendedAt: now, special: &o})
	s.inflight++
	return []Action{Append{Order: o}}
}

// specialAppended records that a special ORDER is in the log.
func (s *Sequencer) specialAppended(o *messages.Order) {
	if o.Kind != messages.OrderMember {
		return
	}
	ch := o.Member
	s.roster[ch.ID] = messages.Member{ID: ch.ID, Gen: ch.Gen, Removed: ch.Op == messages.MemberRemove, Seq: o.Seq}
	if s.proposing[ch.ID] == ch.Gen {
		delete(s.proposing, ch.ID)
	}
}

// propose adds every worker heard from whose keyspace is not a member yet:
// a new worker, or a member whose keyspace was rebuilt or restored.
func (s *Sequencer) propose(now time.Time) []Action {
	var acts []Action
	for _, id := range s.memberIDs() {
		m := s.members[id]
		r, known := s.roster[id]
		if m.gen == "" || (known && r.Gen == m.gen) || s.proposing[id] == m.gen {
			continue
		}
		s.proposing[id] = m.gen
		acts = append(acts, s.special(messages.Order{Kind: messages.OrderMember, Member: &messages.MemberChange{Op: messages.MemberAdd, ID: id, Gen: m.gen}}, now)...)
		acts = append(acts, Notice{Msg: fmt.Sprintf("adding member %s (keyspace generation %s)", id, m.gen)})
	}
	return acts
}

// Remove takes member id out for good (an admin's request from inbox);
// the answer comes once the change is committed.
func (s *Sequencer) Remove(id, inbox string, now time.Time) []Action {
	fail := func(code messages.Code, format string, args ...any) []Action {
		return []Action{Respond{To: inbox, Reply: messages.Failure(code, fmt.Sprintf(format, args...), s.id, "")}}
	}
	if !s.IsReady() {
		return fail(messages.CodeUnavailable, "the leader is not ready yet; retry")
	}
	r, known := s.roster[id]
	m := s.members[id]
	switch {
	case !known && m == nil:
		return fail(messages.CodeBadRequest, "unknown member %q; members: %s", id, strings.Join(s.rosterIDs(), ", "))
	case known && r.Removed:
		return fail(messages.CodeBadRequest, "member %q was already removed at seq %d", id, r.Seq)
	}
	gen := r.Gen
	if !known || (m != nil && m.gen != "") {
		gen = m.gen
	}
	others := 0
	for oid, om := range s.members {
		if oid != id && om.live && !s.removedGen(oid, om.gen) {
			others++
		}
	}
	if others == 0 {
		return fail(messages.CodeBadRequest, "%q is the last live member: removing it would leave no replica; start another worker first", id)
	}
	acts := s.special(messages.Order{Kind: messages.OrderMember, Member: &messages.MemberChange{Op: messages.MemberRemove, ID: id, Gen: gen}}, now)
	seq := acts[0].(Append).Order.Seq
	// It no longer holds back commits from now on; it stops holding back
	// the log once the change is in the log (specialAppended).
	if m != nil {
		m.live = false
	}
	s.admin[seq] = append(s.admin[seq], adminWaiter{inbox: inbox, what: "removed " + id})
	return append(acts, Notice{Warn: true, Msg: fmt.Sprintf("removing member %s (generation %s) at seq %d, as an admin asked", id, gen, seq)})
}

func (s *Sequencer) rosterIDs() []string {
	var ids []string
	for id, r := range s.roster {
		if !r.Removed {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Snapshot asks for a snapshot now (an admin's request from inbox, or ""
// for the leader's own schedule).
func (s *Sequencer) Snapshot(inbox string, now time.Time) []Action {
	if !s.IsReady() {
		if inbox == "" {
			return nil
		}
		return []Action{Respond{To: inbox, Reply: messages.Failure(messages.CodeUnavailable, "the leader is not ready yet; retry", s.id, "")}}
	}
	if s.snap != nil { // one at a time: the caller waits for the one under way
		if inbox != "" {
			s.snap.inboxes = append(s.snap.inboxes, inbox)
		}
		return nil
	}
	by := s.snapshotter()
	acts := s.special(messages.Order{Kind: messages.OrderSnapshot, SnapshotBy: by}, now)
	seq := acts[0].(Append).Order.Seq
	s.snap = &snapRequest{seq: seq, epoch: s.epoch, by: by, at: now}
	if m := s.members[by]; m != nil && by != s.id {
		// It applies nothing while it reads its keyspace: commits do not
		// wait for it meanwhile (it rejoins the ACK set once caught up).
		m.live = false
	}
	s.lastSnapReq = seq
	if inbox != "" {
		s.snap.inboxes = []string{inbox}
	}
	return append(acts, Notice{Msg: fmt.Sprintf("asking %s for a snapshot at seq %d", by, seq)})
}

// snapshotting is the follower asked for the snapshot under way, "" if
// none: it is out of the ACK set until the snapshot is reported.
func (s *Sequencer) snapshotting() string {
	if s.snap != nil && s.snap.by != s.id {
		return s.snap.by
	}
	return ""
}

// snapshotter picks who snapshots: the live follower furthest ahead (the
// leader keeps committing meanwhile), else the leader itself.
func (s *Sequencer) snapshotter() string {
	best, bestApplied := s.id, uint64(0)
	for _, id := range s.memberIDs() {
		m := s.members[id]
		if id == s.id || !m.live || m.stalled != "" || s.removedGen(id, m.gen) {
			continue
		}
		if best == s.id || m.applied > bestApplied {
			best, bestApplied = id, m.applied
		}
	}
	return best
}

// snapshotReported notes a worker's newest snapshot.
func (s *Sequencer) snapshotReported(seq uint64, by string) []Action {
	if seq <= s.snapshotSeq && (s.snap == nil || seq < s.snap.seq) {
		return nil
	}
	s.snapshotSeq = max(s.snapshotSeq, seq)
	if s.snap == nil || seq < s.snap.seq {
		return nil
	}
	var acts []Action
	for _, to := range s.snap.inboxes {
		acts = append(acts, Respond{To: to, Reply: messages.Reply{Status: messages.StatusSuccess, Seq: seq, Server: by}})
	}
	s.snap = nil
	return append(acts, Notice{Msg: fmt.Sprintf("snapshot at seq %d stored by %s", seq, by)})
}

// housekeeping runs on each tick while ready: snapshots on schedule, a
// timed-out snapshot request given up, and the log trimmed.
func (s *Sequencer) housekeeping(now time.Time) []Action {
	var acts []Action
	if r := s.snap; r != nil && r.by != s.id {
		if m := s.members[r.by]; m == nil || now.Sub(m.lastSeen) > s.timing.HeartbeatTimeout || m.stalled != "" {
			// The worker asked went out of the ACK set (down, stuck): ask
			// another one now rather than wait out the timeout.
			s.snap = nil
			acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("%s, asked for the snapshot at seq %d, is out; asking another worker", r.by, r.seq)})
			acts = append(acts, s.Snapshot("", now)...)
			if s.snap != nil {
				s.snap.inboxes = append(s.snap.inboxes, r.inboxes...)
			}
		}
	}
	if r := s.snap; r != nil && s.policy.SnapshotTimeout > 0 && now.Sub(r.at) > s.policy.SnapshotTimeout {
		for _, to := range r.inboxes {
			acts = append(acts, Respond{To: to, Reply: messages.Failure(messages.CodeUnavailable,
				fmt.Sprintf("%s did not report the snapshot at seq %d within %s; retry", r.by, r.seq, s.policy.SnapshotTimeout), s.id, "")})
		}
		acts = append(acts, Notice{Warn: true, Msg: fmt.Sprintf("snapshot at seq %d by %s not reported within %s; giving it up", r.seq, r.by, s.policy.SnapshotTimeout)})
		s.snap = nil
	}
	if every := s.policy.SnapshotEvery; every > 0 && s.snap == nil && s.committed >= max(s.snapshotSeq, s.lastSnapReq)+every {
		acts = append(acts, s.Snapshot("", now)...)
	}
	if keep := s.keepFrom(); keep > s.firstSeq && !s.trimming && now.Sub(s.trimAt) >= trimEvery {
		s.trimming, s.trimAt = true, now
		acts = append(acts, Trim{KeepFrom: keep})
	}
	return acts
}

// keepFrom is the first log seq that must be kept: Retain entries behind
// the newest snapshot, and nothing a current member's keyspace has not
// recorded as applied (a member that is slow or down keeps its entries
// until it is removed; a restart resumes after the recorded seq).
func (s *Sequencer) keepFrom() uint64 {
	if s.snapshotSeq == 0 {
		return 0
	}
	keep := s.snapshotSeq + 1 - min(s.policy.Retain, s.snapshotSeq)
	if f := s.policy.FeedNeeds; f != nil {
		need := f()
		if need == 0 {
			return 0
		}
		keep = min(keep, need)
	}
	for id, r := range s.roster {
		if r.Removed {
			continue
		}
		m := s.members[id]
		if m == nil || m.gen != r.Gen { // not heard from since this leader started: unknown
			return 0
		}
		keep = min(keep, m.durable+1)
	}
	for id, m := range s.members { // workers heard from, not (yet) members: joining
		if r, ok := s.roster[id]; (!ok || r.Gen != m.gen) && !s.removedGen(id, m.gen) {
			keep = min(keep, m.durable+1)
		}
	}
	return keep
}

// adminInboxes are the admins waiting on this leader, in seq order.
func (s *Sequencer) adminInboxes() []string {
	var out []string
	if s.snap != nil {
		out = append(out, s.snap.inboxes...)
	}
	seqs := make([]uint64, 0, len(s.admin))
	for seq := range s.admin {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		for _, w := range s.admin[seq] {
			out = append(out, w.inbox)
		}
	}
	return out
}

// answerAdmin answers admin requests whose change every live replica has
// applied.
func (s *Sequencer) answerAdmin() []Action {
	var acts []Action
	seqs := make([]uint64, 0, len(s.admin))
	for seq := range s.admin {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		if !s.applied(seq, messages.ConsistencyAll) {
			continue
		}
		for _, w := range s.admin[seq] {
			acts = append(acts, Respond{To: w.inbox, Reply: messages.Reply{Status: messages.StatusSuccess, Seq: seq, Server: s.id}})
		}
		delete(s.admin, seq)
	}
	return acts
}

// state names a worker's membership state for status.
func (s *Sequencer) state(id string, m *member) string {
	r, known := s.roster[id]
	switch {
	case known && r.Removed && (m == nil || m.gen == "" || m.gen == r.Gen):
		return messages.StateRemoved
	case m == nil: // a member not heard from since this leader started
		return messages.StateOut
	case m.live:
		return messages.StateLive
	case m.wasLive:
		return messages.StateOut
	}
	return messages.StateJoining
}

// eta estimates how long a worker behind by lag needs at its recent rate.
func eta(m *member, lag uint64) string {
	if lag == 0 || m.rate <= 0 {
		return ""
	}
	return (time.Duration(float64(lag) / m.rate * float64(time.Second))).Round(time.Second).String()
}
