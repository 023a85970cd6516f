// Package client is the Go client of Chorus, a replicated CQL layer on NATS.
//
// A Client sends one CQL statement per call as a NATS request to any worker
// of the cluster (or to one named worker) and decodes the worker's JSON
// reply. Writes (Exec) carry an idempotency key, the request id, and are
// retried with the same id until they get a final outcome, so a write is
// applied at most once however often it is retried. Reads (Query) are
// answered by the receiving worker from its own replica.
//
//	c, err := client.Connect("nats://127.0.0.1:4222")
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Exec(ctx, "INSERT INTO grade (id, events) VALUES (7, [1])")
//	rows, err := c.Query(ctx, "SELECT id, events FROM grade WHERE id = 7")
//
// Status and Members show the leader's view of the cluster; Remove and
// Snapshot are admin operations (they need the admin role's credentials on
// a broker with roles, see SECURITY.md).
//
// Options (WithPrefix, WithTimeout, ...) given to Connect or New are the
// defaults of every call; given to a call they override those for that call.
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/chorusdb/chorus/messages"
)

// Client sends statements to a Chorus cluster over NATS.
type Client struct {
	nc   *nats.Conn
	own  bool // Close closes nc
	opts options

	// onAttempt, when set (by tests), is called after every attempt with
	// its number (from 1) and its error (nil if a reply arrived).
	onAttempt func(attempt int, err error)
}

// Result is the outcome of a successful write.
type Result struct {
	// Seq is the log position of the ORDER holding the write; writes
	// committed together in one ORDER share it and differ by Index.
	Seq   uint64
	Index uint32
	// Server is the worker that replied.
	Server string
	// RequestID is the write's idempotency key. Exec sets it also when it
	// returns an error, so a caller can retry with WithRequestID.
	RequestID string
}

// Rows is the result of a read.
type Rows struct {
	// Columns names the columns in the order of the statement.
	Columns []string
	// Rows holds one map per row, column name to value. Numbers are
	// json.Number, so integers of any size stay exact; lists are []any,
	// maps and UDTs map[string]any, null is nil.
	Rows []map[string]any
	// Server is the worker that answered.
	Server string
	// Seq is how far the worker's replica had applied the log when it
	// read: the rows reflect every write up to Seq (pass it to
	// WithReadConsistency min_seq to read at least as fresh elsewhere).
	Seq uint64
}

// Connect dials the NATS server at url (DefaultURL if "") and returns a
// Client that owns the connection: Close closes it. Options given here are
// the defaults of every call; WithNATSOptions passes options to
// nats.Connect.
func Connect(url string, opts ...Option) (*Client, error) {
	if url == "" {
		url = DefaultURL
	}
	o := defaultOptions().with(opts)
	o.rawReply = nil
	natsOpts := append([]nats.Option{nats.Name("chorus-client")}, o.natsOpts...)
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("chorus: connecting to NATS at %s: %w", url, err)
	}
	return &Client{nc: nc, own: true, opts: o}, nil
}

// New returns a Client that uses an existing NATS connection. Close does
// not close nc; its owner does.
func New(nc *nats.Conn, opts ...Option) *Client {
	o := defaultOptions().with(opts)
	o.rawReply = nil
	return &Client{nc: nc, opts: o}
}

// Close closes the NATS connection if Connect opened it.
func (c *Client) Close() {
	if c.own {
		c.nc.Close()
	}
}

// Exec sends a write (INSERT, UPDATE, DELETE, BATCH, TRUNCATE, table DDL)
// and waits for its outcome: SUCCESS once every live replica has applied it
// (or the leader's replica, with WithConsistency(messages.ConsistencyOne)).
//
// The request carries an id (WithRequestID, else a fresh unique one). With
// retries on (the default) Exec sends it again, with the same id, after an
// attempt timeout, "no responders" or an UNAVAILABLE reply, until the
// deadline; Chorus applies a request id at most once and answers a retry
// with the original outcome. Any other ERROR reply is final and returned as
// an *Error. If the deadline passes first, the error wraps ErrTimeout and
// names the request id: the write may or may not have been applied.
//
// The returned Result carries the request id even when err is not nil.
func (c *Client) Exec(ctx context.Context, stmt string, opts ...Option) (Result, error) {
	o := c.opts.with(opts)
	id := o.requestID
	if id == "" {
		id = nuid.Next()
	}
	res := Result{RequestID: id}
	if strings.TrimSpace(stmt) == "" {
		return res, fmt.Errorf("%w: nothing to execute", ErrEmptyStatement)
	}
	msg, err := c.newMsg(o, stmt)
	if err != nil {
		return res, err
	}
	msg.Header.Set(messages.HeaderRequestID, id)
	if o.consistencySet {
		msg.Header.Set(messages.HeaderConsistency, o.consistency.String())
	}
	r, err := c.roundTrip(ctx, o, call{kind: kindWrite, msg: msg, requestID: id})
	if err != nil {
		return res, err
	}
	if r.Status == messages.StatusError {
		return res, replyError(r, id)
	}
	res.Seq, res.Index, res.Server = r.Seq, r.Index, r.Server
	return res, nil
}

// Query sends a read (SELECT) to a worker, which answers from its own
// replica, as fresh as WithReadConsistency asks (default: as it is). With retries on it tries again after an attempt timeout or "no
// responders", until the deadline; an ERROR reply is returned as an *Error.
func (c *Client) Query(ctx context.Context, stmt string, opts ...Option) (*Rows, error) {
	o := c.opts.with(opts)
	if strings.TrimSpace(stmt) == "" {
		return nil, fmt.Errorf("%w: nothing to query", ErrEmptyStatement)
	}
	msg, err := c.newMsg(o, stmt)
	if err != nil {
		return nil, err
	}
	if o.requestID != "" {
		msg.Header.Set(messages.HeaderRequestID, o.requestID)
	}
	if o.readSet && o.read.Level != messages.ReadLocal { // local is the default: nothing to send
		msg.Header.Set(messages.HeaderConsistency, o.read.String())
	}
	r, err := c.roundTrip(ctx, o, call{kind: kindRead, msg: msg, requestID: o.requestID})
	if err != nil {
		return nil, err
	}
	if r.Status == messages.StatusError {
		return nil, replyError(r, o.requestID)
	}
	rows := &Rows{Columns: r.Columns, Server: r.Server, Seq: r.Seq}
	if len(r.Rows) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Rows))
		dec.UseNumber()
		if err := dec.Decode(&rows.Rows); err != nil {
			return nil, fmt.Errorf("%w: rows of the reply on %s are not a JSON array of objects: %v",
				ErrBadReply, msg.Subject, err)
		}
	}
	return rows, nil
}

// Status asks the leader for the state of the cluster. If nothing answers
// (no leader right now) it returns an error wrapping ErrNoLeader at once,
// without retrying.
func (c *Client) Status(ctx context.Context, opts ...Option) (messages.Status, error) {
	o := c.opts.with(opts)
	var st messages.Status
	if !messages.ValidPrefix(o.prefix) {
		return st, fmt.Errorf("chorus: invalid subject prefix %q", o.prefix)
	}
	msg := nats.NewMsg(messages.NewSubjects(o.prefix).Status())
	data, err := c.request(ctx, o, call{kind: kindStatus, msg: msg})
	if err != nil {
		return st, err
	}
	// A leader that cannot report answers with an ERROR reply.
	var probe messages.Reply
	if json.Unmarshal(data, &probe) == nil && probe.Status == messages.StatusError {
		return st, replyError(probe, "")
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%w: reply on %s is not a JSON status: %v: %s",
			ErrBadReply, msg.Subject, err, snippet(data))
	}
	return st, nil
}

// newMsg builds the request message for stmt on the subject o selects.
func (c *Client) newMsg(o options, stmt string) (*nats.Msg, error) {
	if !messages.ValidPrefix(o.prefix) {
		return nil, fmt.Errorf("chorus: invalid subject prefix %q", o.prefix)
	}
	s := messages.NewSubjects(o.prefix)
	subject := s.Request()
	if o.server != "" {
		if !messages.ValidToken(o.server) {
			return nil, fmt.Errorf("chorus: invalid server id %q", o.server)
		}
		subject = s.RequestTo(o.server)
	}
	msg := nats.NewMsg(subject)
	msg.Data = []byte(stmt)
	return msg, nil
}

type kind uint8

const (
	kindWrite kind = iota
	kindRead
	kindStatus
)

// call is one Exec, Query or Status in flight.
type call struct {
	kind      kind
	msg       *nats.Msg
	requestID string
}

// roundTrip sends c.msg until it gets a final reply and decodes it.
func (c *Client) roundTrip(ctx context.Context, o options, cl call) (messages.Reply, error) {
	data, err := c.request(ctx, o, cl)
	if err != nil {
		return messages.Reply{}, err
	}
	r, err := messages.DecodeReply(data)
	if err != nil {
		return r, fmt.Errorf("%w: reply on %s is not a Chorus reply (%v): %s",
			ErrBadReply, cl.msg.Subject, err, snippet(data))
	}
	return r, nil
}

// request sends cl.msg, retrying as o and cl.kind allow, and returns the
// data of the final reply.
func (c *Client) request(ctx context.Context, o options, cl call) ([]byte, error) {
	if o.rawReply != nil {
		*o.rawReply = nil
	}
	timeout := o.timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	attemptTimeout := o.attemptTimeout
	if attemptTimeout <= 0 {
		attemptTimeout = DefaultAttemptTimeout
	}

	var (
		start     = time.Now()
		attempts  int
		delivered bool  // some attempt may have reached a worker
		lastErr   error // why the last attempt was not final
		backoff   = minBackoff
	)
	for {
		if ctx.Err() != nil {
			return nil, c.exhausted(ctx, cl, attempts, time.Since(start), delivered, lastErr)
		}
		attempts++
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		resp, err := c.nc.RequestMsgWithContext(actx, cl.msg)
		cancel()
		if c.onAttempt != nil {
			c.onAttempt(attempts, err)
		}

		wait := false
		switch {
		case err == nil:
			delivered = true
			if cl.kind == kindWrite && o.retry && isUnavailable(resp.Data) {
				r, _ := messages.DecodeReply(resp.Data)
				lastErr = replyError(r, cl.requestID)
				wait = true
				break
			}
			if o.rawReply != nil {
				*o.rawReply = resp.Data
			}
			return resp.Data, nil

		case errors.Is(err, nats.ErrNoResponders):
			if cl.kind == kindStatus {
				return nil, newError([]error{ErrNoLeader, err},
					"chorus: no leader: nothing answers on %s (a leader may be being elected, or no chorus-worker runs with prefix %q)",
					cl.msg.Subject, o.prefix)
			}
			lastErr = err
			if !o.retry {
				return nil, c.noWorkers(cl, o, err)
			}
			wait = true

		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, nats.ErrTimeout):
			delivered = true // it may have reached a worker: no "no responders"
			if ctx.Err() != nil {
				continue // the call's deadline: reported at the top
			}
			lastErr = fmt.Errorf("no reply within the attempt timeout of %v", attemptTimeout)
			if !o.retry {
				return nil, c.exhausted(ctx, cl, attempts, time.Since(start), delivered, lastErr)
			}

		case errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting):
			// The connection to NATS dropped; nats.go reconnects.
			delivered = true
			lastErr = err
			if !o.retry {
				return nil, c.failed(cl, delivered, err)
			}
			wait = true

		default:
			return nil, c.failed(cl, delivered, err)
		}

		if wait {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// isUnavailable reports whether data is an ERROR reply with code UNAVAILABLE.
func isUnavailable(data []byte) bool {
	r, err := messages.DecodeReply(data)
	return err == nil && r.Status == messages.StatusError && messages.ParseCode(r.Code) == messages.CodeUnavailable
}

// exhausted is the error of a call whose deadline passed (or whose context
// was cancelled) before a final reply.
func (c *Client) exhausted(ctx context.Context, cl call, attempts int, elapsed time.Duration, delivered bool, lastErr error) error {
	errs := []error{}
	what := "timeout"
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		what = "cancelled"
		errs = append(errs, err)
	} else {
		errs = append(errs, ErrTimeout)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if errors.Is(lastErr, nats.ErrNoResponders) && !delivered {
		errs = append(errs, ErrNoWorkers)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chorus: %s: no final reply on %s after %v and %d attempt", what, cl.msg.Subject, elapsed.Round(time.Millisecond), attempts)
	if attempts != 1 {
		b.WriteString("s")
	}
	if lastErr != nil {
		fmt.Fprintf(&b, " (last: %v)", lastErr)
	}
	if cl.kind == kindWrite {
		b.WriteString(writeOutcome(cl.requestID, delivered))
	}
	return &multiError{msg: b.String(), errs: errs}
}

// writeOutcome tells the user what is known of a write without a reply.
func writeOutcome(requestID string, delivered bool) string {
	if !delivered {
		return fmt.Sprintf("; the write reached no worker and was not applied (request id %s)", requestID)
	}
	return fmt.Sprintf("; the write may or may not have been applied: retry with request id %s to apply it at most once and learn its outcome", requestID)
}

// noWorkers is the error for "no responders" when retries are off.
func (c *Client) noWorkers(cl call, o options, err error) error {
	who := fmt.Sprintf("no chorus-worker runs with prefix %q", o.prefix)
	if o.server != "" {
		who = fmt.Sprintf("worker %q is not running", o.server)
	}
	msg := fmt.Sprintf("chorus: no workers: nothing answers on %s (%s)", cl.msg.Subject, who)
	if cl.kind == kindWrite {
		msg += writeOutcome(cl.requestID, false)
	}
	return newError([]error{ErrNoWorkers, err}, "%s", msg)
}

// failed is the error of a call stopped by a NATS error it cannot retry.
func (c *Client) failed(cl call, delivered bool, err error) error {
	msg := fmt.Sprintf("chorus: request on %s: %v", cl.msg.Subject, err)
	if cl.kind == kindWrite {
		msg += writeOutcome(cl.requestID, delivered)
	}
	return newError([]error{err}, "%s", msg)
}

// snippet quotes the start of a bad reply for an error message.
func snippet(data []byte) string {
	const max = 80
	if len(data) > max {
		return fmt.Sprintf("%q...", data[:max])
	}
	return fmt.Sprintf("%q", data)
}
