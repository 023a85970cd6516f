package client

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

// Defaults used when no option says otherwise.
const (
	// DefaultURL is the NATS server a client dials when Connect gets "".
	DefaultURL = nats.DefaultURL
	// DefaultPrefix is the subject prefix of a Chorus cluster.
	DefaultPrefix = "db"
	// DefaultTimeout bounds a whole call (all its attempts) when its
	// context has no deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultAttemptTimeout bounds one NATS request of a call.
	DefaultAttemptTimeout = 5 * time.Second
)

// Backoff between attempts after "no responders" or an UNAVAILABLE reply:
// it starts at minBackoff and doubles up to maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Option configures a Client (given to Connect or New, it becomes a default
// for every call) or one call (given to Exec, Query or Status, it overrides
// the default for that call only).
type Option func(*options)

type options struct {
	prefix         string
	server         string
	timeout        time.Duration
	timeoutSet     bool
	attemptTimeout time.Duration
	requestID      string
	consistency    messages.Consistency
	consistencySet bool
	read           messages.ReadConsistency
	readSet        bool
	retry          bool
	natsOpts       []nats.Option
	rawReply       *[]byte
}

func defaultOptions() options {
	return options{
		prefix:         DefaultPrefix,
		timeout:        DefaultTimeout,
		attemptTimeout: DefaultAttemptTimeout,
		retry:          true,
	}
}

// with returns a copy of o with opts applied; o itself is not changed, so a
// Client's defaults can be shared by concurrent calls.
func (o options) with(opts []Option) options {
	o.natsOpts = append([]nats.Option(nil), o.natsOpts...)
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithPrefix sets the subject prefix of the cluster (default "db"), so
// several Chorus clusters can share one NATS server.
func WithPrefix(p string) Option {
	return func(o *options) { o.prefix = p }
}

// WithServer sends requests to worker id only (subject <prefix>.request.<id>)
// instead of to any one worker. "" means any worker.
func WithServer(id string) Option {
	return func(o *options) { o.server = id }
}

// WithTimeout sets the overall deadline of a call, all attempts included,
// used when the call's context has no deadline of its own (default 30s;
// for Snapshot, DefaultSnapshotTimeout).
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout, o.timeoutSet = d, true }
}

// WithAttemptTimeout sets how long one NATS request waits for its reply
// before the call tries again (default 5s). A write that waits for every
// replica can take a while: keep it well above the cluster's commit latency.
func WithAttemptTimeout(d time.Duration) Option {
	return func(o *options) { o.attemptTimeout = d }
}

// WithRequestID sets the idempotency key of a write (header
// Chorus-Request-Id). Without it Exec uses a fresh unique id per call.
// Give the id of an earlier write whose outcome is unknown (it timed out)
// to apply it at most once and learn its original outcome. It is meant
// for a single call: set on Connect, every Exec would share one id.
func WithRequestID(id string) Option {
	return func(o *options) { o.requestID = id }
}

// WithConsistency sets how many replicas must have applied a write before
// SUCCESS (header Chorus-Consistency): messages.ConsistencyAll (the
// default) or messages.ConsistencyOne.
func WithConsistency(c messages.Consistency) Option {
	return func(o *options) { o.consistency, o.consistencySet = c, true }
}

// WithReadConsistency sets how fresh a read must be (header
// Chorus-Consistency on Query): local (the default: the receiving replica
// as it is), linearizable (every write acknowledged before the call is
// seen), min_seq (the replica has applied at least that seq: pass the Seq
// of your own write's Result) or bounded (caught up with the leader at
// most that long ago). messages.ParseReadConsistency reads the header
// forms ("linearizable", "min_seq:42", "bounded:1s"). A worker that cannot
// make the read that fresh in time answers UNAVAILABLE (an *Error), never
// older data; the read may be retried.
func WithReadConsistency(rc messages.ReadConsistency) Option {
	return func(o *options) { o.read, o.readSet = rc, true }
}

// WithRetry turns retries on (the default) or off. With retries on, Exec
// tries again, with the same request id, after an attempt timeout, "no
// responders" or an UNAVAILABLE reply, and Query after an attempt timeout or
// "no responders", until the call's deadline.
func WithRetry(on bool) Option {
	return func(o *options) { o.retry = on }
}

// WithNATSOptions passes options to nats.Connect. It only has an effect on
// Connect.
func WithNATSOptions(opts ...nats.Option) Option {
	return func(o *options) { o.natsOpts = append(o.natsOpts, opts...) }
}

// WithRawReply stores the bytes of the call's final reply, exactly as the
// worker sent them, in *dst (nil when no reply arrived). It is for tools
// that show the reply verbatim, such as the chorus CLI's --json; it only
// has an effect on a single call (given to Connect or New it is ignored).
func WithRawReply(dst *[]byte) Option {
	return func(o *options) { o.rawReply = dst }
}
