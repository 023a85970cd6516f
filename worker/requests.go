package worker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// handle serves one client request: checks it, answers a read from this
// replica, or hands a write to the leader.
func (w *Worker) handle(ctx context.Context, m *nats.Msg) {
	reqID := m.Header.Get(messages.HeaderRequestID)
	fail := func(code messages.Code, format string, args ...any) {
		w.respond(m, messages.Failure(code, fmt.Sprintf(format, args...), w.cfg.ID, reqID))
	}
	switch {
	case len(m.Data) == 0:
		fail(messages.CodeBadRequest, "empty request: send one CQL statement as the message body")
		return
	case len(m.Data) > w.cfg.MaxStatementBytes:
		fail(messages.CodeBadRequest, "statement of %d bytes is over the limit of %d bytes (CHORUS_MAX_STATEMENT_BYTES)", len(m.Data), w.cfg.MaxStatementBytes)
		return
	case !utf8.Valid(m.Data):
		fail(messages.CodeBadRequest, "statement is not valid UTF-8")
		return
	case len(reqID) > 256:
		fail(messages.CodeBadRequest, "%s is longer than 256 bytes", messages.HeaderRequestID)
		return
	}
	consistency, ok := messages.ParseConsistency(m.Header.Get(messages.HeaderConsistency))
	if !ok {
		fail(messages.CodeBadRequest, "%s %q: use all or one", messages.HeaderConsistency, m.Header.Get(messages.HeaderConsistency))
		return
	}
	stmt, err := cql.Parse(string(m.Data), w.cfg.KeyspaceName())
	if err == nil {
		err = checkReserved(stmt)
	}
	if err != nil {
		fail(codeOf(err), "%v", err)
		return
	}
	if !stmt.Kind.IsWrite() {
		w.read(ctx, m, stmt.Text)
		return
	}
	// Reject what the leader could not make deterministic before ordering.
	if _, _, err := cql.Rewrite(stmt.Text, time.Now(), rand.Reader); err != nil {
		fail(messages.CodeNondeterministic, "%v", err)
		return
	}
	if reqID == "" {
		reqID = nuid.Next()
	}
	w.forward(ctx, m, messages.Forward{RequestID: reqID, Reply: m.Reply, Stmt: stmt.Text, Origin: w.cfg.ID, Consistency: consistency})
}

func codeOf(err error) messages.Code {
	switch {
	case errors.Is(err, cql.ErrKeyspace), errors.Is(err, errReserved):
		return messages.CodeIsolation
	case errors.Is(err, cql.ErrNondeterministic):
		return messages.CodeNondeterministic
	}
	return messages.CodeBadRequest
}

var errReserved = errors.New("table reserved for Chorus")

// checkReserved keeps clients away from Chorus's own bookkeeping tables.
func checkReserved(s cql.Statement) error {
	for _, t := range s.Names {
		if store.IsReservedTable(t) {
			return fmt.Errorf("%w: %s holds Chorus's own state; use another table name", errReserved, t)
		}
	}
	return nil
}

func (w *Worker) read(ctx context.Context, m *nats.Msg, stmt string) {
	qctx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
	defer cancel()
	cols, rows, err := w.store.Query(qctx, stmt)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		w.respond(m, messages.Failure(messages.CodeUnavailable, err.Error(), w.cfg.ID, ""))
	case errors.Is(err, store.ErrTooManyRows):
		w.respond(m, messages.Failure(messages.CodeBadRequest, err.Error(), w.cfg.ID, ""))
	case err != nil:
		w.respond(m, messages.Failure(messages.CodeCQL, err.Error(), w.cfg.ID, ""))
	default:
		w.respond(m, messages.ReadSuccess(cols, rows, w.cfg.ID))
	}
}

// forward hands a write to the leader under ForwardRetry's policy.
func (w *Worker) forward(ctx context.Context, m *nats.Msg, f messages.Forward) {
	data := messages.MustEncode(&f)
	policy := NewForwardRetry(time.Now(), w.cfg.ForwardTimeout)
	var err error
	for {
		d, ok := policy.Attempt(time.Now())
		if !ok {
			w.respond(m, messages.Failure(messages.CodeUnavailable, fmt.Sprintf(
				"no leader accepted the write within %s (%v); it may or may not be applied: retry with %s: %s",
				w.cfg.ForwardTimeout, err, messages.HeaderRequestID, f.RequestID), w.cfg.ID, f.RequestID))
			return
		}
		actx, cancel := context.WithTimeout(ctx, d)
		var resp *nats.Msg
		resp, err = w.nc.RequestWithContext(actx, w.subjects.Forward(), data)
		cancel()
		if err == nil {
			var acc messages.Accepted
			if err = messages.Decode(resp.Data, &acc); err == nil {
				return // the leader replies to the client
			}
			w.log.Warn("leader answered a forward with garbage", "err", err)
		}
		if ctx.Err() != nil {
			return
		}
		if pause := policy.Failed(errors.Is(err, nats.ErrNoResponders)); pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}
