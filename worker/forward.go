package worker

import "time"

// ForwardAttempt bounds one hand-over to the leader. The leader answers
// as soon as the write is in the log, so this is short: a frozen leader
// that still holds the subscription must not delay the retry that reaches
// its successor. Retries carry the same request id, so they are harmless.
const ForwardAttempt = 500 * time.Millisecond

// No responders means no leader yet: retry soon, failover is short.
const (
	forwardBackoffMin = 20 * time.Millisecond
	forwardBackoffMax = 200 * time.Millisecond
)

// ForwardRetry is the policy for handing one write to the leader: attempts
// of at most ForwardAttempt under the same request id until a leader
// accepts it or the deadline passes (then the client hears UNAVAILABLE). A
// leader that died before appending it is replaced; one that appended it
// answers the retry from its record. Time is an input, so the simulation
// runs this same policy.
type ForwardRetry struct {
	deadline time.Time
	backoff  time.Duration
}

// NewForwardRetry starts the policy for a write received at now.
func NewForwardRetry(now time.Time, timeout time.Duration) *ForwardRetry {
	return &ForwardRetry{deadline: now.Add(timeout), backoff: forwardBackoffMin}
}

// Deadline is when the worker gives up.
func (f *ForwardRetry) Deadline() time.Time { return f.deadline }

// Attempt returns how long the next attempt may wait for the leader's
// Accepted, or false once the deadline has passed (a deadline reached
// exactly counts as passed: no zero-length attempts).
func (f *ForwardRetry) Attempt(now time.Time) (time.Duration, bool) {
	if !now.Before(f.deadline) {
		return 0, false
	}
	return min(ForwardAttempt, f.deadline.Sub(now)), true
}

// Failed says how long to wait before the next attempt, after one that
// failed: at once after a timeout (the attempt already took its time),
// with a growing pause when no leader listens at all.
func (f *ForwardRetry) Failed(noResponders bool) time.Duration {
	if !noResponders {
		return 0
	}
	d := f.backoff
	f.backoff = min(2*d, forwardBackoffMax)
	return d
}
