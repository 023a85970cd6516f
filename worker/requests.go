package worker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/chorusdb/chorus/check"
	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
	"github.com/chorusdb/chorus/store"
)

// request is a client request the checks admitted, queued for the
// serving goroutines.
type request struct {
	m           *nats.Msg
	ep          endpoint // where it came in (service.go)
	stmt        cql.Statement
	reqID       string
	consistency messages.Consistency     // a write's
	read        messages.ReadConsistency // a read's (reads.go)
}

// admit runs the checks of a client request: they are pure (no I/O), so
// they run in the NATS callback and a refusal is answered there, where the
// micro service counts it as an error (service.go). The same checks run
// again at the leader on the FORWARD (check.Forward).
func (w *Worker) admit(m *nats.Msg, ep endpoint) (request, *messages.Reply) {
	reqID := m.Header.Get(messages.HeaderRequestID)
	fail := func(code messages.Code, format string, args ...any) (request, *messages.Reply) {
		w.metrics.Request(metrics.RequestInvalid)
		r := messages.Failure(code, fmt.Sprintf(format, args...), w.cfg.ID, reqID)
		return request{}, &r
	}
	if err := check.RequestID(reqID); err != nil {
		return fail(messages.CodeBadRequest, "%v", err)
	}
	stmt, err := check.Statement(m.Data, w.cfg.KeyspaceName(), w.cfg.MaxStatementBytes)
	if err != nil {
		return fail(check.Code(err), "%v", err)
	}
	// Chorus-Consistency: a write's level, or a read's.
	level := m.Header.Get(messages.HeaderConsistency)
	var consistency messages.Consistency
	var read messages.ReadConsistency
	if !stmt.Kind.IsWrite() {
		if read, err = messages.ParseReadConsistency(level); err != nil {
			return fail(messages.CodeBadRequest, "%v", err)
		}
	} else {
		var ok bool
		if consistency, ok = messages.ParseConsistency(level); !ok {
			return fail(messages.CodeBadRequest, "%s %q on a write: use all or one", messages.HeaderConsistency, level)
		}
		// Reject what the leader could not make deterministic before ordering.
		if err := check.Deterministic(stmt, time.Now(), rand.Reader); err != nil {
			return fail(messages.CodeNondeterministic, "%v", err)
		}
		if reqID == "" {
			reqID = nuid.Next()
		}
	}
	return request{m: m, ep: ep, stmt: stmt, reqID: reqID, consistency: consistency, read: read}, nil
}

// handle serves an admitted request: answers a read from this replica, or
// hands a write to the leader.
func (w *Worker) handle(ctx context.Context, q request) {
	if q.stmt.Kind == cql.KindDescribe {
		w.describe(ctx, q, q.stmt.DescribeTable)
		return
	}
	if !q.stmt.Kind.IsWrite() {
		w.metrics.Request(metrics.RequestRead)
		w.read(ctx, q)
		return
	}
	w.metrics.Request(metrics.RequestWrite)
	w.forward(ctx, q, messages.Forward{RequestID: q.reqID, Reply: q.m.Reply, Stmt: q.stmt.Text, Origin: w.cfg.ID, Consistency: q.consistency})
}

// read answers a SELECT at its level (reads.go): once the replica is as
// fresh as the level asks, from its own keyspace, with the seq it had
// applied.
func (w *Worker) read(ctx context.Context, q request) {
	if q.read.Level != messages.ReadLocal {
		fctx, cancel := context.WithTimeout(ctx, w.cfg.ReadTimeout)
		err := w.readFresh(fctx, q.read)
		cancel()
		if err != nil {
			w.respond(q, messages.Failure(messages.CodeUnavailable, fmt.Sprintf("%s read: %v", q.read, err), w.cfg.ID, ""))
			return
		}
	}
	seq := w.applied.Load() // the rows reflect at least this much
	qctx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
	defer cancel()
	cols, rows, err := w.store.Query(qctx, q.stmt.Text)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		w.metrics.QueryFailed()
		w.respond(q, messages.Failure(messages.CodeUnavailable, err.Error(), w.cfg.ID, ""))
	case errors.Is(err, store.ErrTooManyRows):
		w.respond(q, messages.Failure(messages.CodeBadRequest, err.Error(), w.cfg.ID, ""))
	case err != nil:
		w.respond(q, messages.Failure(messages.CodeCQL, err.Error(), w.cfg.ID, ""))
	default:
		w.respond(q, messages.ReadSuccessAt(cols, rows, w.cfg.ID, seq))
	}
}

// forward hands a write to the leader under ForwardRetry's policy and,
// once accepted, watches it until its leader has answered (reforward.go).
func (w *Worker) forward(ctx context.Context, q request, f messages.Forward) {
	acc, err := w.handOver(ctx, f)
	if err != nil {
		w.metrics.ForwardFailed()
		w.respond(q, messages.Failure(messages.CodeUnavailable, fmt.Sprintf(
			"%v; it may or may not be applied: retry with %s: %s", err, messages.HeaderRequestID, f.RequestID), w.cfg.ID, f.RequestID))
		return
	}
	w.watch(ctx, f, acc)
}

// watch keeps an accepted write with a client waiting until its leader
// reports it answered (reforward.go); one whose leader is replaced
// already goes to the next one at once.
func (w *Worker) watch(ctx context.Context, f messages.Forward, acc messages.Accepted) {
	if f.Reply != "" && w.watched.accepted(ctx, f, acc) {
		go w.handOverAgain(ctx, []Handover{{Forward: f, Epoch: acc.Epoch, Seq: acc.Seq}})
	}
}

// handOver sends f to the leader until one accepts it (the leader replies
// to the client) or the forward timeout passes.
func (w *Worker) handOver(ctx context.Context, f messages.Forward) (messages.Accepted, error) {
	data := messages.MustEncode(&f)
	policy := NewForwardRetry(time.Now(), w.cfg.ForwardTimeout)
	var err error
	for attempt := 0; ; attempt++ {
		d, ok := policy.Attempt(time.Now())
		if !ok || w.stopping.Load() || ctx.Err() != nil {
			if ok {
				return messages.Accepted{}, fmt.Errorf("worker %s is stopping", w.cfg.ID)
			}
			return messages.Accepted{}, fmt.Errorf("no leader accepted the write within %s (%v)", w.cfg.ForwardTimeout, err)
		}
		if attempt > 0 {
			w.metrics.ForwardRetried()
		}
		actx, cancel := context.WithTimeout(ctx, d)
		var resp *nats.Msg
		resp, err = w.nc.RequestWithContext(actx, w.subjects.Forward(), data)
		cancel()
		if err == nil {
			var acc messages.Accepted
			if err = messages.Decode(resp.Data, &acc); err == nil {
				return acc, nil
			}
			w.log.Warn("leader answered a forward with garbage", "err", err)
		}
		if pause := policy.Failed(errors.Is(err, nats.ErrNoResponders)); pause > 0 && ctx.Err() == nil {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}
