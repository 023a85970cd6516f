package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

// Admin operations, as the leader names them (leader.AdminRemove,
// leader.AdminSnapshot): requests on Subjects.Admin(op).
const (
	adminRemove   = "remove"   // body: the member's id
	adminSnapshot = "snapshot" // body: empty
)

// DefaultSnapshotTimeout bounds Snapshot when its context has no deadline
// and no WithTimeout is given: the leader answers only once the snapshot is
// stored, which takes as long as reading the whole keyspace.
const DefaultSnapshotTimeout = 2 * time.Minute

// adminHint is what an admin operation needs on a broker with roles.
const adminHint = "admin operations need the admin role's credentials (e.g. --nkey .data/creds/admin.nk locally)"

// Members asks the leader for the cluster's members: every worker it knows,
// joining, live, out or removed, sorted by id. State is filled in from Live
// ("live" or "out") when the leader is older than the member states.
func (c *Client) Members(ctx context.Context, opts ...Option) ([]messages.StatusWorker, error) {
	st, err := c.Status(ctx, opts...)
	if err != nil {
		return nil, err
	}
	ws := make([]messages.StatusWorker, len(st.Workers))
	for i, w := range st.Workers {
		w.State = MemberState(w)
		ws[i] = w
	}
	return ws, nil
}

// MemberState is w's membership state: its State, or for a leader that
// does not report one, messages.StateLive or messages.StateOut from Live.
func MemberState(w messages.StatusWorker) string {
	switch {
	case w.State != "":
		return w.State
	case w.Live:
		return messages.StateLive
	}
	return messages.StateOut
}

// Remove takes member id out of the cluster for good: the leader stops
// waiting for its ACKs and keeping log for it, and refuses it until it is
// started again under that id after a restore. The change goes through
// the log; Remove returns its seq once every live replica has applied it.
//
// The leader refuses an unknown id, a member already removed and the last
// live member with an ERROR reply, returned as an *Error (Code
// messages.CodeBadRequest). It is an admin operation: on a broker with
// roles, only the admin role may publish it; a refusal by NATS wraps
// ErrPermission. Remove is not retried: a second request for the same id
// would be refused as already removed.
func (c *Client) Remove(ctx context.Context, id string, opts ...Option) (uint64, error) {
	if !messages.ValidToken(id) {
		return 0, fmt.Errorf("chorus: invalid member id %q", id)
	}
	r, err := c.admin(ctx, c.opts.with(opts), adminRemove, []byte(id))
	if err != nil {
		return 0, err
	}
	return r.Seq, nil
}

// Snapshot asks the leader for a snapshot now and waits until it is stored:
// it returns the snapshot's seq (the state of the cluster after that log
// entry) and the worker that stored it. If a snapshot is already under way
// the call waits for that one.
//
// The leader answers only once the snapshot is stored, so without a
// deadline on ctx the call waits WithTimeout or DefaultSnapshotTimeout
// (2m). A snapshot the worker does not report in the leader's own time
// limit comes back as an *Error with Code messages.CodeUnavailable. Like
// Remove it is an admin operation (ErrPermission when NATS refuses it).
func (c *Client) Snapshot(ctx context.Context, opts ...Option) (seq uint64, server string, err error) {
	o := c.opts.with(opts)
	if !o.timeoutSet {
		o.timeout = DefaultSnapshotTimeout
	}
	r, err := c.admin(ctx, o, adminSnapshot, nil)
	if err != nil {
		return 0, "", err
	}
	return r.Seq, r.Server, nil
}

// admin sends one admin request to the leader and waits for its reply,
// once (an admin operation is not idempotent). NATS reports a publish its
// permissions refuse asynchronously, and the request would just time out:
// a flush after the publish (the server answers in order) tells at once.
func (c *Client) admin(ctx context.Context, o options, op string, body []byte) (messages.Reply, error) {
	if o.rawReply != nil {
		*o.rawReply = nil
	}
	if !messages.ValidPrefix(o.prefix) {
		return messages.Reply{}, fmt.Errorf("chorus: invalid subject prefix %q", o.prefix)
	}
	if _, ok := ctx.Deadline(); !ok {
		timeout := o.timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	subject := messages.NewSubjects(o.prefix).Admin(op)
	start := time.Now()

	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return messages.Reply{}, newError([]error{err}, "chorus: %s: subscribing to a reply inbox: %v", subject, err)
	}
	defer sub.Unsubscribe()
	before := c.nc.LastError()
	if err := c.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Data: body}); err != nil {
		return messages.Reply{}, newError([]error{err}, "chorus: request on %s: %v", subject, err)
	}
	if err := c.nc.FlushWithContext(ctx); err != nil && ctx.Err() == nil {
		return messages.Reply{}, newError([]error{err}, "chorus: request on %s: %v", subject, err)
	}
	if err := c.nc.LastError(); !same(err, before) {
		if perr := refused(err, subject, inbox); perr != nil {
			return messages.Reply{}, c.notAllowed(subject, inbox, perr)
		}
	}

	m, err := sub.NextMsgWithContext(ctx) // a "no responders" status is an error
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		// NATS checks permissions before interest: the publish was allowed.
		return messages.Reply{}, newError([]error{ErrNoLeader, err},
			"chorus: no leader answered on %s: nothing subscribes to it (a leader may be being elected, or no chorus-worker runs with prefix %q); %s",
			subject, o.prefix, adminHint)
	default:
		if perr := refused(c.nc.LastError(), subject, inbox); perr != nil {
			return messages.Reply{}, c.notAllowed(subject, inbox, perr)
		}
		if ctx.Err() == nil {
			return messages.Reply{}, newError([]error{err}, "chorus: request on %s: %v", subject, err)
		}
		return messages.Reply{}, adminTimeout(ctx, op, subject, time.Since(start))
	}
	if o.rawReply != nil {
		*o.rawReply = m.Data
	}
	r, err := messages.DecodeReply(m.Data)
	if err != nil {
		return r, fmt.Errorf("%w: reply on %s is not a Chorus reply (%v): %s", ErrBadReply, subject, err, snippet(m.Data))
	}
	if r.Status == messages.StatusError {
		return r, replyError(r, "")
	}
	return r, nil
}

// same reports whether a and b are the same error value; errors of a type
// that cannot be compared count as different.
func same(a, b error) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// refused returns err if it is the server's permissions violation for
// publishing on subject or subscribing to inbox, else nil.
func refused(err error, subject, inbox string) error {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil
	}
	s := strings.ToLower(err.Error())
	if strings.Contains(s, strings.ToLower(fmt.Sprintf("publish to %q", subject))) ||
		strings.Contains(s, strings.ToLower(fmt.Sprintf("subscription to %q", inbox))) {
		return err
	}
	return nil
}

// notAllowed is the error of an admin request NATS refused.
func (c *Client) notAllowed(subject, inbox string, err error) error {
	what := "publish it"
	if strings.Contains(strings.ToLower(err.Error()), "subscription to") {
		what = "subscribe to the reply inbox " + inbox
	}
	return newError([]error{ErrPermission, err},
		"chorus: %s; no leader answered on %s: NATS refused to %s (%v)", adminHint, subject, what, err)
}

// adminTimeout is the error of an admin request without a reply in time.
func adminTimeout(ctx context.Context, op, subject string, elapsed time.Duration) error {
	errs := []error{ErrTimeout}
	what := "timeout"
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		errs, what = []error{err}, "cancelled"
	} else if err != nil {
		errs = append(errs, err)
	}
	outcome := ""
	switch op {
	case adminRemove:
		outcome = "; the removal may or may not have been ordered: chorus members shows the member's state"
	case adminSnapshot:
		outcome = "; a snapshot under way goes on: chorus status shows the newest snapshot's seq"
	}
	return newError(errs, "chorus: %s: no reply on %s after %v: no leader answered in time, or NATS refused the request: %s%s",
		what, subject, elapsed.Round(time.Millisecond), adminHint, outcome)
}
