package client

import (
	"errors"
	"fmt"

	"github.com/chorusdb/chorus/messages"
)

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrTimeout means a call got no final reply before its deadline (the
	// context's, or WithTimeout). For Exec the write may or may not have
	// been applied: the error names the request id; Exec it again with
	// WithRequestID(id) to apply it at most once and learn its outcome.
	ErrTimeout = errors.New("chorus: timeout")
	// ErrNoWorkers means no worker is subscribed to the request subject
	// ("no responders"): no chorus-worker runs with this prefix, or the one
	// named by WithServer is down. A timeout after only such attempts wraps
	// both ErrTimeout and ErrNoWorkers.
	ErrNoWorkers = errors.New("chorus: no workers")
	// ErrNoLeader means nothing answered on the status subject or an admin
	// subject: the cluster has no leader right now (it may be electing one)
	// or no worker runs.
	ErrNoLeader = errors.New("chorus: no leader")
	// ErrPermission means NATS refused an admin request (Remove, Snapshot):
	// the connection's credentials lack the admin role. The error also
	// wraps nats.ErrPermissionViolation.
	ErrPermission = errors.New("chorus: permission denied")
	// ErrEmptyStatement means Exec or Query got a blank statement; nothing
	// was sent.
	ErrEmptyStatement = errors.New("chorus: empty statement")
	// ErrBadReply means a reply was not a Chorus reply (not JSON, or no
	// valid status); the error names the subject the request went to.
	ErrBadReply = errors.New("chorus: bad reply")
)

// Error is an ERROR reply from Chorus: a final outcome, which retrying the
// same request does not change (except Code UNAVAILABLE, which Exec retries
// by itself). Use errors.As to get it from an error returned by Exec or
// Query.
type Error struct {
	// Code classifies the error (messages.CodeCQL, CodeIsolation, ...).
	Code messages.Code
	// Message is the error text, e.g. Cassandra's message.
	Message string
	// Server is the worker that sent the reply.
	Server string
	// Seq is the write's place in the global order when it was ordered
	// and then failed (the same way on every replica); 0 otherwise.
	Seq uint64
	// RequestID is the request's idempotency key, when it had one.
	RequestID string
}

// Error renders e as "chorus: CQL: <message> (server1)".
func (e *Error) Error() string {
	s := "chorus: " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Server != "" {
		s += " (" + e.Server + ")"
	}
	return s
}

// replyError turns an ERROR reply into an *Error.
func replyError(r messages.Reply, requestID string) *Error {
	e := &Error{
		Code:      messages.ParseCode(r.Code),
		Message:   r.Error,
		Server:    r.Server,
		Seq:       r.Seq,
		RequestID: r.RequestID,
	}
	if e.RequestID == "" {
		e.RequestID = requestID
	}
	return e
}

// multiError is an error with its own message that wraps several errors,
// so errors.Is finds each of them.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

func newError(errs []error, format string, args ...any) error {
	return &multiError{msg: fmt.Sprintf(format, args...), errs: errs}
}
