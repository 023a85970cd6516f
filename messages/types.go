// Package messages holds the wire types of Chorus: the internal messages
// between workers (msgpack, each tagged with its type) and the JSON reply a
// client receives. It does no I/O.
package messages

// Consistency is how many replicas must have applied a write before the
// client is told SUCCESS.
type Consistency uint8

const (
	// ConsistencyAll waits for every live replica (the default).
	ConsistencyAll Consistency = iota
	// ConsistencyOne waits for the leader's own replica only.
	ConsistencyOne
)

// ParseConsistency reads a Chorus-Consistency header value; "" means all.
func ParseConsistency(s string) (Consistency, bool) {
	switch s {
	case "", "all", "ALL", "All":
		return ConsistencyAll, true
	case "one", "ONE", "One":
		return ConsistencyOne, true
	}
	return 0, false
}

func (c Consistency) String() string {
	if c == ConsistencyOne {
		return "one"
	}
	return "all"
}

// Forward is FORWARD: a write a worker received, sent to the leader. The
// leader answers the forwarding worker with Accepted once the write is in
// the log, and answers the client (Reply) once it is committed.
type Forward struct {
	_msgpack    struct{} `msgpack:",as_array"`
	RequestID   string
	Reply       string // the client's reply inbox; "" for fire-and-forget
	Stmt        string // already validated by the receiving worker
	Origin      string // ID of the receiving worker
	Consistency Consistency
}

// Accepted is the leader's answer to a Forward: the write is in the log at
// Seq (or was already, for a retried request id).
type Accepted struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Epoch     uint64
	Seq       uint64
	RequestID string
	// Answered: this leader has answered every write it accepted at a
	// seq <= Answered, so the forwarding worker stops watching them
	// (worker.Handovers). 0 from a leader that does not say.
	Answered uint64
}

// OrderKind tells a worker what to do with an ORDER.
type OrderKind uint8

const (
	// OrderWrite applies Stmt.
	OrderWrite OrderKind = iota
	// OrderEpoch marks the start of a leader's epoch; it changes no data
	// but fences off every earlier leader (their conditional appends fail).
	OrderEpoch
	// OrderSnapshot asks worker SnapshotBy to snapshot its keyspace as of
	// this seq; it changes no data. Putting the request in the log makes
	// "the state at seq S" the same point on every replica.
	OrderSnapshot
	// OrderMember changes the cluster's membership (Member): every replica
	// and every later leader learns the members from the log.
	OrderMember
)

// MemberOp is what an OrderMember does.
type MemberOp uint8

const (
	// MemberAdd makes (ID, Gen) a member (replacing an earlier Gen of ID).
	MemberAdd MemberOp = iota + 1
	// MemberRemove takes (ID, Gen) out for good: the leader stops waiting
	// for it and keeping log for it, and refuses its ACKs and heartbeats.
	MemberRemove
)

func (o MemberOp) String() string {
	switch o {
	case MemberAdd:
		return "add"
	case MemberRemove:
		return "remove"
	}
	return "?"
}

// Member is one member of the cluster: a worker and the life of its
// keyspace (Gen).
type Member struct {
	_msgpack struct{} `msgpack:",as_array"`
	ID       string   `json:"id"`
	Gen      string   `json:"gen"`
	Removed  bool     `json:"removed,omitempty"`
	Seq      uint64   `json:"seq"` // of the ORDER that last changed it
}

// MemberChange is the membership change an OrderMember carries. Gen names
// one life of a worker's keyspace: a worker whose keyspace is rebuilt or
// restored comes back under its ID with a new Gen, so a removed worker can
// rejoin only that way.
type MemberChange struct {
	_msgpack struct{} `msgpack:",as_array"`
	Op       MemberOp
	ID       string
	Gen      string
}

// Order is ORDER: one entry of the global log. Seq is the JetStream stream
// sequence it was appended at (the leader appends with an expected last
// sequence of Seq-1). A write ORDER carries one or more client writes,
// applied in their order (group commit: one log append, one fsync and one
// ACK for many writes).
type Order struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Epoch     uint64
	Seq       uint64
	Kind      OrderKind
	Timestamp int64 // write timestamp of Writes[0] (µs since the Unix epoch); Writes[i] has Timestamp+i
	Leader    string
	Writes    []Write
	// SnapshotBy names the worker that snapshots at an OrderSnapshot.
	SnapshotBy string
	// Member is the change of an OrderMember.
	Member *MemberChange
}

// Write is one client write inside an ORDER.
type Write struct {
	_msgpack  struct{} `msgpack:",as_array"`
	RequestID string
	Stmt      string
	Origin    string // the worker that received it
}

// WriteTimestamp is the write timestamp of o.Writes[i].
func (o *Order) WriteTimestamp(i int) int64 { return o.Timestamp + int64(i) }

// LastTimestamp is the highest write timestamp o uses: a new leader must
// hand out timestamps above it.
func (o *Order) LastTimestamp() int64 { return o.WriteTimestamp(max(len(o.Writes), 1) - 1) }

// Outcome is how one write ended on a replica; Error is "" on success.
// The same write must end the same way on every replica. Index is the
// write's position in its ORDER.
type Outcome struct {
	_msgpack struct{} `msgpack:",as_array"`
	Seq      uint64
	Index    uint32
	Code     Code
	Error    string
}

// Ack is ACK: Worker has applied every ORDER up to and including Applied;
// Outcomes holds the outcomes of the ORDERs this ACK newly covers.
type Ack struct {
	_msgpack struct{} `msgpack:",as_array"`
	Worker   string
	Epoch    uint64 // the highest epoch the worker has applied
	Applied  uint64
	Outcomes []Outcome
	Gen      string // the life of its keyspace (MemberChange.Gen)
}

// Heartbeat says a worker is alive and how far it has applied.
type Heartbeat struct {
	_msgpack struct{} `msgpack:",as_array"`
	Worker   string
	Applied  uint64
	Epoch    uint64
	Stalled  string // why the worker cannot apply right now, "" if it can
	Gen      string // the life of its keyspace (MemberChange.Gen)
	// Snapshot is the seq of the newest snapshot this worker completed.
	Snapshot uint64
	// Restoring reports a restore from a snapshot in progress.
	Restoring *RestoreProgress
	// Durable is how far its keyspace records having applied: a restart
	// resumes after it. Markers and snapshot requests are not recorded,
	// so it can be below Applied; the log is never trimmed past it.
	Durable uint64
}

// RestoreProgress is how far a worker has loaded a snapshot.
type RestoreProgress struct {
	_msgpack struct{} `msgpack:",as_array"`
	Seq      uint64   `json:"seq"`   // the snapshot's seq
	Bytes    int64    `json:"bytes"` // loaded so far
	Total    int64    `json:"total"` // of the snapshot
	Rows     int64    `json:"rows"`
}

// Member states, as status reports them.
const (
	StateJoining = "joining" // a member catching up, not yet in the ACK set
	StateLive    = "live"    // in the ACK set
	StateOut     = "out"     // was live; silent or stuck, out of the ACK set
	StateRemoved = "removed" // taken out for good (chorus remove)
	StateUnknown = "unknown" // heard from, not (yet) a member
)

// StatusWorker is one worker as the leader sees it.
type StatusWorker struct {
	ID       string `json:"id" msgpack:"id"`
	State    string `json:"state" msgpack:"state"`
	Live     bool   `json:"live" msgpack:"live"`
	Applied  uint64 `json:"applied" msgpack:"applied"`
	Lag      uint64 `json:"lag" msgpack:"lag"`
	LastSeen string `json:"last_seen" msgpack:"last_seen"`
	Stalled  string `json:"stalled,omitempty" msgpack:"stalled"`
	// ETA estimates how long a joining member needs to catch up.
	ETA       string           `json:"eta,omitempty" msgpack:"eta"`
	Restoring *RestoreProgress `json:"restoring,omitempty" msgpack:"restoring"`
}

// Status is the leader's answer on the status subject (JSON on the wire, so
// the nats CLI can read it).
type Status struct {
	Leader    string `json:"leader"`
	Epoch     uint64 `json:"epoch"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	Committed uint64 `json:"committed"`
	// SnapshotSeq is the seq of the newest complete snapshot, 0 if none.
	SnapshotSeq uint64         `json:"snapshot_seq"`
	Workers     []StatusWorker `json:"workers"`
}
