// Package check holds the admission checks a statement passes before it is
// ordered. The worker that receives a client's request runs them, and the
// leader runs them again on every FORWARD (defence in depth: a FORWARD that
// did not come through a worker's checks is dropped, never ordered). The
// checks are pure: no I/O, no clock of their own.
package check

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// MaxStatementBytes is the largest statement any worker accepts, whatever
// CHORUS_MAX_STATEMENT_BYTES says: NATS's default max_payload (1 MiB), which
// a request carrying a larger statement could not pass anyway. The leader
// checks FORWARDs against it.
const MaxStatementBytes = 1 << 20

// MaxRequestIDBytes is the longest Chorus-Request-Id accepted.
const MaxRequestIDBytes = 256

// ReservedTablePrefix starts the names of Chorus's own bookkeeping tables
// in every keyspace; clients may not name such tables.
const ReservedTablePrefix = "chorus_"

// The errors of the checks. Each error returned wraps one of them or one of
// cql's (errors.Is), and Code maps it to the code the client gets.
var (
	// ErrEmpty: a request without a statement.
	ErrEmpty = errors.New("empty request")
	// ErrTooLarge: a statement over the size limit.
	ErrTooLarge = errors.New("statement too large")
	// ErrEncoding: a statement that is not valid UTF-8.
	ErrEncoding = errors.New("statement is not valid UTF-8")
	// ErrReserved: a statement naming one of Chorus's own tables.
	ErrReserved = errors.New("table reserved for Chorus")
	// ErrNotWrite: a FORWARD whose statement is not a write.
	ErrNotWrite = errors.New("not a write")
	// ErrForward: a FORWARD whose envelope (request id, reply subject,
	// origin, consistency) is unusable.
	ErrForward = errors.New("malformed FORWARD")
)

// IsReservedTable reports whether name is one of Chorus's own tables.
func IsReservedTable(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), ReservedTablePrefix)
}

// Statement checks a statement as a client sent it, for a replica owning
// keyspace, with a size limit of maxBytes: not empty, not too large, valid
// UTF-8, one supported statement that stays in the replica's keyspace (cql.Parse)
// and names none of Chorus's tables. It returns the parsed statement.
func Statement(text []byte, keyspace string, maxBytes int) (cql.Statement, error) {
	return statement(string(text), keyspace, maxBytes)
}

// statement is Statement of a string: a FORWARD's statement is one already,
// and needs no copy.
func statement(text string, keyspace string, maxBytes int) (cql.Statement, error) {
	maxBytes = min(maxBytes, MaxStatementBytes)
	switch {
	case len(text) == 0:
		return cql.Statement{}, fmt.Errorf("%w: send one CQL statement as the message body", ErrEmpty)
	case len(text) > maxBytes:
		return cql.Statement{}, fmt.Errorf("%w: %d bytes is over the limit of %d bytes (CHORUS_MAX_STATEMENT_BYTES)", ErrTooLarge, len(text), maxBytes)
	case !utf8.ValidString(text):
		return cql.Statement{}, ErrEncoding
	}
	stmt, err := cql.Parse(text, keyspace)
	if err != nil {
		return cql.Statement{}, err
	}
	for _, t := range stmt.Names {
		if IsReservedTable(t) {
			return cql.Statement{}, fmt.Errorf("%w: %s holds Chorus's own state; use another table name", ErrReserved, t)
		}
	}
	return stmt, nil
}

// Deterministic checks that the leader can turn a write into one with the
// same result on every replica (cql.Rewrite at time at, randomness from
// rnd), on the tokens Parse kept.
func Deterministic(stmt cql.Statement, at time.Time, rnd io.Reader) error {
	_, _, err := stmt.Rewrite(at, rnd)
	return err
}

// RequestID checks a Chorus-Request-Id. It must be UTF-8: every replica
// records it in a text column, which Cassandra refuses other bytes for, so
// an id that is not would stop every replica at its write.
func RequestID(id string) error {
	switch {
	case len(id) > MaxRequestIDBytes:
		return fmt.Errorf("%s is longer than %d bytes", messages.HeaderRequestID, MaxRequestIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%s is not valid UTF-8; send it as text", messages.HeaderRequestID)
	}
	return nil
}

// Forward checks a FORWARD as the leader receives it from a worker of the
// cluster s: the statement passes the same checks as a client's request at
// the receiving worker (Statement, a write, Deterministic), and the envelope
// is one a worker makes: a request id, a reply subject that is a plain
// subject outside the cluster's own and NATS's $ subjects (the leader
// publishes the reply there), a valid origin and a known consistency.
//
// Keyspace isolation does not depend on whose keyspace is named: a write
// may name no keyspace at all (cql.Parse), so checking against the origin's
// or the leader's own keyspace gives the same verdict.
//
// It returns the statement as parsed, so that the leader need not parse it
// again (a statement without Nondeterministic calls is ordered as sent).
func Forward(f messages.Forward, s messages.Subjects, at time.Time, rnd io.Reader) (cql.Statement, error) {
	switch {
	case f.RequestID == "":
		return cql.Statement{}, fmt.Errorf("%w: no request id", ErrForward)
	case RequestID(f.RequestID) != nil:
		return cql.Statement{}, fmt.Errorf("%w: %v", ErrForward, RequestID(f.RequestID))
	case !messages.ValidToken(f.Origin):
		return cql.Statement{}, fmt.Errorf("%w: origin %q is not a worker ID", ErrForward, f.Origin)
	case f.Consistency > messages.ConsistencyOne:
		return cql.Statement{}, fmt.Errorf("%w: unknown consistency %d", ErrForward, f.Consistency)
	}
	if err := replySubject(f.Reply, s); err != nil {
		return cql.Statement{}, err
	}
	stmt, err := statement(f.Stmt, "chorus_leader_check", MaxStatementBytes)
	if err != nil {
		return cql.Statement{}, err
	}
	if !stmt.Kind.IsWrite() {
		return cql.Statement{}, fmt.Errorf("%w: a %s is answered by the receiving worker, never ordered", ErrNotWrite, stmt.Kind)
	}
	if err := Deterministic(stmt, at, rnd); err != nil {
		return cql.Statement{}, err
	}
	return stmt, nil
}

// replySubject accepts "" (no reply wanted) or a literal subject that is
// neither the cluster's own (prefix.…) nor a NATS system subject ($…).
func replySubject(r string, s messages.Subjects) error {
	if r == "" {
		return nil
	}
	if !messages.ValidPrefix(r) {
		return fmt.Errorf("%w: reply subject %q is not a literal subject", ErrForward, r)
	}
	if strings.HasPrefix(r, "$") || r == s.Prefix || strings.HasPrefix(r, s.Prefix+".") {
		return fmt.Errorf("%w: reply subject %q is an internal subject", ErrForward, r)
	}
	return nil
}

// Code is the wire code of an error of these checks (or of cql's).
func Code(err error) messages.Code {
	switch {
	case errors.Is(err, cql.ErrKeyspace), errors.Is(err, ErrReserved):
		return messages.CodeIsolation
	case errors.Is(err, cql.ErrNondeterministic):
		return messages.CodeNondeterministic
	}
	return messages.CodeBadRequest
}
