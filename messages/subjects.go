package messages

import "strings"

// Header names a client may set on a request.
const (
	// HeaderRequestID is the idempotency key: a request retried with the same
	// id is applied once and the retry gets the original outcome.
	HeaderRequestID = "Chorus-Request-Id"
	// HeaderConsistency selects, for a write, how many replicas must have
	// applied it before SUCCESS: "all" (default) or "one" (the leader's
	// replica); for a read, how fresh it must be (ParseReadConsistency).
	HeaderConsistency = "Chorus-Consistency"
)

// QueueGroup is the queue group every worker joins on the shared request
// subject, so each request is served by exactly one worker.
const QueueGroup = "chorus-workers"

// Subjects names every NATS subject, stream and bucket of one Chorus cluster.
// Several clusters can share a NATS server by using different prefixes.
type Subjects struct {
	Prefix string
}

// NewSubjects returns the subject names for prefix (e.g. "db").
func NewSubjects(prefix string) Subjects { return Subjects{Prefix: prefix} }

// Request is the subject every worker serves in one queue group.
func (s Subjects) Request() string { return s.Prefix + ".request" }

// RequestTo is the subject only worker id serves.
func (s Subjects) RequestTo(id string) string { return s.Prefix + ".request." + id }

// Forward carries FORWARD messages from workers to the leader.
func (s Subjects) Forward() string { return s.Prefix + ".leader.forward" }

// Ack carries ACK messages from workers to the leader.
func (s Subjects) Ack() string { return s.Prefix + ".leader.ack" }

// ReadIndex carries ReadIndex requests from workers to the leader.
func (s Subjects) ReadIndex() string { return s.Prefix + ".leader.readindex" }

// Order is the subject of the ORDER log (a JetStream stream).
func (s Subjects) Order() string { return s.Prefix + ".order" }

// Heartbeat carries worker liveness and progress to the leader.
func (s Subjects) Heartbeat() string { return s.Prefix + ".heartbeat" }

// Status is answered by the leader with the cluster's state.
func (s Subjects) Status() string { return s.Prefix + ".status" }

// Admin is the subject of admin operation op (remove, snapshot): they
// change the cluster outside the log's normal writes, so only the admin
// role may publish them.
func (s Subjects) Admin(op string) string { return s.Prefix + ".admin." + op }

// Changes is the subject subscribers of the change feed see for token
// (a table, SchemaToken or GapToken): the changes stream republishes
// what it stored there, so a plain subscriber sees the feed in order.
func (s Subjects) Changes(token string) string { return s.Prefix + ".changes." + token }

// ChangesAll matches every subject of the change feed.
func (s Subjects) ChangesAll() string { return s.Prefix + ".changes.>" }

// ChangeLog is the subject the leader publishes the change of token on,
// into the changes stream (only workers may publish there).
func (s Subjects) ChangeLog(token string) string { return s.Prefix + ".changelog." + token }

// ChangeLogAll matches every subject of the changes stream.
func (s Subjects) ChangeLogAll() string { return s.Prefix + ".changelog.>" }

// ChangesStream is the JetStream stream holding the change feed.
func (s Subjects) ChangesStream() string { return "CHORUS_" + s.token() + "_CHANGES" }

// SnapshotBucket is the JetStream object store holding snapshots.
func (s Subjects) SnapshotBucket() string { return "CHORUS_" + s.token() + "_SNAPSHOTS" }

// StreamName is the JetStream stream holding the ORDER log.
func (s Subjects) StreamName() string { return "CHORUS_" + s.token() }

// LeaseBucket is the JetStream KV bucket holding the leader lease.
func (s Subjects) LeaseBucket() string { return "CHORUS_" + s.token() + "_LEASE" }

// token turns the prefix into a name valid for streams and buckets.
func (s Subjects) token() string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, s.Prefix)
}

// ValidToken reports whether s can be used as one NATS subject token
// (a worker ID or a prefix part): no dots, spaces or wildcards.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return false
		}
	}
	return true
}

// ValidPrefix reports whether p is a usable subject prefix: one or more
// valid tokens separated by dots.
func ValidPrefix(p string) bool {
	for _, t := range strings.Split(p, ".") {
		if !ValidToken(t) {
			return false
		}
	}
	return true
}
