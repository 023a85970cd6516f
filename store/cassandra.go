// Package store is a replica's storage: its own Cassandra keyspace, where
// every write is applied together with the record of its log position.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/check"
	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// Errors of the store.
var (
	// ErrUnavailable wraps a failure of Cassandra itself (down, timeout,
	// overloaded): the same statement may succeed later, so the apply loop
	// retries it and never skips it.
	ErrUnavailable = errors.New("store: cassandra unavailable")
	// ErrKeyspaceLost is returned when the keyspace or Chorus's state table
	// vanished under a running worker (dropped by hand): the worker must
	// restart to rebuild it from the log.
	ErrKeyspaceLost = errors.New("store: keyspace lost")
	// ErrTooManyRows is returned for a read larger than the row limit.
	ErrTooManyRows = errors.New("store: too many rows")
)

// Config says where the keyspace lives.
type Config struct {
	Hosts             []string
	Keyspace          string
	Username          string
	Password          string
	ReplicationFactor int
	Timeout           time.Duration // per Cassandra request
	DedupWindow       time.Duration // how long request ids are remembered
	MaxRows           int           // largest read answered
	// TLS to Cassandra: on when TLSCA is set (with host verification);
	// TLSCert and TLSKey give a client certificate.
	TLSCA, TLSCert, TLSKey string
}

// State is what a replica has durably applied.
type State struct {
	Applied uint64 // last log sequence whose writes are all applied
	Epoch   uint64 // highest leader epoch applied
	Partial uint32 // writes of ORDER Applied+1 already applied (a crash mid-ORDER)
}

// Request is one remembered request id and how its write ended.
type Request struct {
	ID      string
	Outcome messages.Outcome
}

// Cassandra keeps a replica in one Cassandra keyspace. Besides the user's
// tables it holds two of its own:
//   - chorus_state: the last applied sequence, written in the same logged
//     batch as the write it belongs to, so a crash never applies an ORDER
//     twice or skips one;
//   - chorus_requests: request ids and outcomes (exactly-once), with a TTL
//     of the dedup window.
type Cassandra struct {
	session  *gocql.Session
	keyspace string
	ttl      int
	maxRows  int
	// st is the durable state as last written; unsure is set after a
	// failed Apply, so the next one first re-reads it (a timed-out batch
	// may have landed). Only the apply loop calls Apply.
	st     State
	unsure bool
}

// State and request tables; user statements may not touch them.
const (
	stateTable    = "chorus_state"
	requestsTable = "chorus_requests"
)

// IsReservedTable reports whether name is one of Chorus's own tables
// (check.IsReservedTable: the rule lives with the admission checks).
func IsReservedTable(name string) bool { return check.IsReservedTable(name) }

// OpenCassandra connects, creates the keyspace and Chorus's tables if they
// are missing, and reads the applied state.
func OpenCassandra(ctx context.Context, cfg Config) (*Cassandra, State, error) {
	cluster := gocql.NewCluster(cfg.Hosts...)
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.Timeout
	cluster.Consistency = gocql.Quorum
	if cfg.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		cluster.SslOpts = &gocql.SslOptions{CaPath: cfg.TLSCA, CertPath: cfg.TLSCert, KeyPath: cfg.TLSKey, EnableHostVerification: cfg.TLSCA != ""}
	}
	sys, err := cluster.CreateSession()
	if err != nil {
		return nil, State{}, fmt.Errorf("%w: connecting to %s: %v", ErrUnavailable, strings.Join(cfg.Hosts, ","), err)
	}
	err = sys.Query(fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %q WITH replication = {'class': 'SimpleStrategy', 'replication_factor': %d}`,
		cfg.Keyspace, cfg.ReplicationFactor)).WithContext(ctx).Exec()
	sys.Close()
	if err != nil {
		return nil, State{}, fmt.Errorf("creating keyspace %s: %w", cfg.Keyspace, classify(err))
	}
	cluster.Keyspace = cfg.Keyspace
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, State{}, fmt.Errorf("%w: connecting to keyspace %s: %v", ErrUnavailable, cfg.Keyspace, err)
	}
	c := &Cassandra{session: session, keyspace: cfg.Keyspace, ttl: int(cfg.DedupWindow / time.Second), maxRows: cfg.MaxRows}
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS ` + stateTable + ` (id int PRIMARY KEY, applied bigint, epoch bigint, partial int)`,
		`CREATE TABLE IF NOT EXISTS ` + requestsTable + ` (id text PRIMARY KEY, seq bigint, idx int, code int, error text)`,
	} {
		if err := session.Query(ddl).WithContext(ctx).Exec(); err != nil {
			session.Close()
			return nil, State{}, fmt.Errorf("creating %s tables: %w", cfg.Keyspace, classify(err))
		}
	}
	st, err := c.state(ctx)
	if err != nil {
		session.Close()
		return nil, State{}, err
	}
	c.st = st
	return c, st, nil
}

func (c *Cassandra) state(ctx context.Context) (State, error) {
	var applied, epoch int64
	var partial int
	err := c.session.Query(`SELECT applied, epoch, partial FROM `+stateTable+` WHERE id = 0`).WithContext(ctx).Scan(&applied, &epoch, &partial)
	if errors.Is(err, gocql.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		if lost(err) {
			return State{}, fmt.Errorf("%w: %s: %v", ErrKeyspaceLost, c.keyspace, err)
		}
		return State{}, fmt.Errorf("reading applied state of %s: %w", c.keyspace, classify(err))
	}
	return State{Applied: uint64(applied), Epoch: uint64(epoch), Partial: uint32(partial)}, nil
}

// Close ends the session.
func (c *Cassandra) Close() { c.session.Close() }

// Keyspace is the keyspace this store owns.
func (c *Cassandra) Keyspace() string { return c.keyspace }

// The record of progress: written in the same logged batch as the writes
// it covers, with explicit timestamps that grow with the log.
const (
	recordState   = `UPDATE ` + stateTable + ` USING TIMESTAMP ? SET applied = ?, epoch = ?, partial = ? WHERE id = 0`
	recordRequest = `INSERT INTO ` + requestsTable + ` (id, seq, idx, code, error) VALUES (?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`
)

// maxGroup bounds the writes applied in one Cassandra batch (Cassandra
// refuses batches over batch_size_fail_threshold, 50 KiB by default; a
// refused group is applied write by write instead).
const maxGroup = 128

// Apply applies the writes of consecutive ORDERs, each write with its own
// timestamp, and returns their outcomes, ORDER by ORDER. Writes Cassandra
// can batch (plain INSERT, UPDATE, DELETE) go in logged batches together
// with the record of progress, so a crash never applies a write twice or
// skips one; a batch Cassandra refuses is retried write by write, so each
// write gets its own outcome. Writes Cassandra cannot batch (schema
// changes, TRUNCATE, counters, conditional writes, explicit timestamps)
// run alone and are recorded right after. The outcomes are the statements'
// own results, the same on every replica; the error is a storage failure:
// retry the same ORDERs.
func (c *Cassandra) Apply(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	if c.unsure {
		st, err := c.state(ctx)
		if err != nil {
			return nil, err
		}
		c.st, c.unsure = st, false
	}
	out, err := c.apply(ctx, orders)
	c.unsure = err != nil
	return out, err
}

// ref is one write to apply: write k of ORDER o.
type ref struct {
	n    int // index of o in the call's orders
	o    *messages.Order
	k    int
	st   cql.Statement
	perr error // the statement does not parse (the same on every replica)
}

func (c *Cassandra) apply(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	outs := make([][]messages.Outcome, len(orders))
	var todo []ref
	for n := range orders {
		o := &orders[n]
		outs[n] = make([]messages.Outcome, len(o.Writes))
		done := 0
		switch {
		case o.Seq <= c.st.Applied:
			done = len(o.Writes)
		case o.Seq == c.st.Applied+1:
			done = int(c.st.Partial)
		}
		for k := range o.Writes {
			if k < done { // applied before a crash or a failed attempt
				out, err := c.recordedOutcome(ctx, o, k)
				if err != nil {
					return nil, err
				}
				outs[n][k] = out
				continue
			}
			st, err := cql.Parse(o.Writes[k].Stmt, c.keyspace)
			todo = append(todo, ref{n: n, o: o, k: k, st: st, perr: err})
			outs[n][k] = messages.Outcome{Seq: o.Seq, Index: uint32(k)}
		}
	}
	for i := 0; i < len(todo); {
		// The longest run of batchable writes from i, tried as one batch.
		j := i
		for j < len(todo) && j-i < maxGroup && todo[j].perr == nil && batchable(todo[j].st) {
			j++
		}
		if j-i > 1 {
			err := c.applyGroup(ctx, todo[i:j])
			if err == nil {
				i = j
				continue
			}
			if errors.Is(err, ErrUnavailable) {
				return nil, err
			}
			// Refused as a whole: each write on its own below.
		} else {
			j = i + 1
		}
		for _, r := range todo[i:j] {
			out, err := c.applyOne(ctx, r)
			if err != nil {
				return nil, err
			}
			outs[r.n][r.k] = out
		}
		i = j
	}
	return outs, nil
}

// batchable: Cassandra takes it in a logged batch with our records.
func batchable(st cql.Statement) bool {
	switch st.Kind {
	case cql.KindInsert, cql.KindUpdate, cql.KindDelete:
		return !st.Conditional && !st.UsingTimestamp
	}
	return false
}

// progress is the record that o's writes before next are applied.
func progress(o *messages.Order, next int) (applied uint64, partial int) {
	if next >= len(o.Writes) {
		return o.Seq, 0
	}
	return o.Seq - 1, next
}

// addRecords adds to b the records of the successful writes rs and the
// progress after the last of them.
func (c *Cassandra) addRecords(b *gocql.Batch, rs []ref) {
	for _, r := range rs {
		b.Query(recordRequest, r.o.Writes[r.k].RequestID, int64(r.o.Seq), r.k, 0, "", c.ttl, r.o.WriteTimestamp(r.k))
	}
	last := rs[len(rs)-1]
	applied, partial := progress(last.o, last.k+1)
	b.Query(recordState, last.o.WriteTimestamp(last.k), int64(applied), int64(last.o.Epoch), partial)
}

func (c *Cassandra) applyGroup(ctx context.Context, rs []ref) error {
	b := c.session.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	for _, r := range rs {
		text, err := cql.WithTimestamp(r.st, r.o.WriteTimestamp(r.k))
		if err != nil {
			return err
		}
		b.Query(text)
	}
	c.addRecords(b, rs)
	if err := c.session.ExecuteBatch(b); err != nil {
		return classify(err)
	}
	last := rs[len(rs)-1]
	c.advance(last.o, last.k+1)
	return nil
}

func (c *Cassandra) advance(o *messages.Order, next int) {
	applied, partial := progress(o, next)
	c.st = State{Applied: applied, Epoch: max(c.st.Epoch, o.Epoch), Partial: uint32(partial)}
}

// applyOne applies write k of o: atomically with its record when Cassandra
// allows it, else alone and then recorded.
func (c *Cassandra) applyOne(ctx context.Context, r ref) (messages.Outcome, error) {
	o, k, stmt, perr := r.o, r.k, r.st, r.perr
	ts := o.WriteTimestamp(k)
	out := messages.Outcome{Seq: o.Seq, Index: uint32(k)}
	if perr != nil { // the leader ordered it, so every replica rejects it alike
		out.Code, out.Error = messages.CodeBadRequest, perr.Error()
		return c.recordOnly(ctx, o, k, out)
	}
	if q := c.atomicQuery(ctx, r); q != nil {
		err := q()
		if err == nil {
			c.advance(o, k+1)
			return out, nil
		}
		if err = classify(err); errors.Is(err, ErrUnavailable) {
			return out, err
		}
		// Rejected: run it alone below, so the client sees the statement's
		// own error (and a statement Cassandra refuses to batch still runs).
	}
	q := c.session.Query(stmt.Text).WithContext(ctx)
	if !stmt.Kind.IsSchema() && !stmt.UsingTimestamp && !stmt.Conditional {
		q = q.WithTimestamp(ts)
	}
	if stmt.Conditional {
		applied, err := q.MapScanCAS(map[string]any{})
		if err == nil && !applied {
			// Cassandra reports a failed condition as a result, not an error.
			out.Code, out.Error = messages.CodeCQL, "condition not met: write not applied"
		}
		if err != nil {
			if out.Code, out.Error, err = c.statementError(err); err != nil {
				return out, err
			}
		}
	} else if err := q.Exec(); err != nil {
		if out.Code, out.Error, err = c.statementError(err); err != nil {
			return out, err
		}
	}
	return c.recordOnly(ctx, o, k, out)
}

// atomicQuery returns the execution of write k of o together with its
// record in one logged batch, or nil when Cassandra cannot batch it.
func (c *Cassandra) atomicQuery(ctx context.Context, r ref) func() error {
	o, k, stmt := r.o, r.k, r.st
	if stmt.Conditional || stmt.UsingTimestamp {
		return nil
	}
	ts := o.WriteTimestamp(k)
	applied, partial := progress(o, k+1)
	switch stmt.Kind {
	case cql.KindInsert, cql.KindUpdate, cql.KindDelete:
		b := c.session.NewBatch(gocql.LoggedBatch).WithTimestamp(ts).WithContext(ctx)
		b.Query(stmt.Text)
		c.addRecords(b, []ref{r})
		return func() error { return c.session.ExecuteBatch(b) }
	case cql.KindBatch:
		if stmt.BatchType != "LOGGED" {
			return nil
		}
		// The client's batch is one query: splice the record into it.
		text := stmt.Text[:stmt.ApplyOffset] + " " + recordRequest + "; " + recordState + "; " + stmt.Text[stmt.ApplyOffset:]
		q := c.session.Query(text, o.Writes[k].RequestID, int64(o.Seq), k, 0, "", c.ttl, ts,
			ts, int64(applied), int64(o.Epoch), partial).WithTimestamp(ts).WithContext(ctx)
		return q.Exec
	}
	return nil
}

// recordOnly records write k of o as applied with outcome out, without
// data changes.
func (c *Cassandra) recordOnly(ctx context.Context, o *messages.Order, k int, out messages.Outcome) (messages.Outcome, error) {
	ts := o.WriteTimestamp(k)
	applied, partial := progress(o, k+1)
	b := c.session.NewBatch(gocql.LoggedBatch).WithContext(ctx)
	b.Query(recordRequest, o.Writes[k].RequestID, int64(o.Seq), k, int(out.Code), out.Error, c.ttl, ts)
	b.Query(recordState, ts, int64(applied), int64(o.Epoch), partial)
	if err := c.session.ExecuteBatch(b); err != nil {
		return out, fmt.Errorf("recording seq %d write %d in %s: %w", o.Seq, k, c.keyspace, classify(err))
	}
	c.advance(o, k+1)
	return out, nil
}

// recordedOutcome is the recorded outcome of write k of o, already applied.
func (c *Cassandra) recordedOutcome(ctx context.Context, o *messages.Order, k int) (messages.Outcome, error) {
	var seq int64
	var idx, code int
	var msg string
	out := messages.Outcome{Seq: o.Seq, Index: uint32(k)}
	err := c.session.Query(`SELECT seq, idx, code, error FROM `+requestsTable+` WHERE id = ?`, o.Writes[k].RequestID).WithContext(ctx).Scan(&seq, &idx, &code, &msg)
	if errors.Is(err, gocql.ErrNotFound) || uint64(seq) != o.Seq || idx != k {
		return out, nil
	}
	if err != nil {
		return out, classify(err)
	}
	out.Code, out.Error = messages.Code(code), msg
	return out, nil
}

// Requests lists the remembered request ids, to rebuild the exactly-once
// window after a restart.
func (c *Cassandra) Requests(ctx context.Context) ([]Request, error) {
	iter := c.session.Query(`SELECT id, seq, idx, code, error FROM ` + requestsTable).WithContext(ctx).PageSize(5000).Iter()
	var out []Request
	var id, msg string
	var seq int64
	var idx, code int
	for iter.Scan(&id, &seq, &idx, &code, &msg) {
		out = append(out, Request{ID: id, Outcome: messages.Outcome{Seq: uint64(seq), Index: uint32(idx), Code: messages.Code(code), Error: msg}})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading request ids of %s: %w", c.keyspace, classify(err))
	}
	return out, nil
}

// lost reports an error that says the keyspace or a table is gone.
func lost(err error) bool {
	var re gocql.RequestError
	if !errors.As(err, &re) || re.Code() != gocql.ErrCodeInvalid {
		return false
	}
	m := strings.ToLower(re.Message())
	return strings.Contains(m, "does not exist") || strings.Contains(m, "unconfigured table")
}

// statementError splits a Cassandra error into the statement's outcome
// or a storage failure. Cassandra names the keyspace in some messages
// ("... in table server1.grade"); it is taken out so that the outcome is
// the same on every replica, whose keyspaces differ.
func (c *Cassandra) statementError(err error) (messages.Code, string, error) {
	err = classify(err)
	if errors.Is(err, ErrUnavailable) {
		return 0, "", err
	}
	msg := strings.ReplaceAll(err.Error(), c.keyspace+".", "")
	return messages.CodeCQL, strings.ReplaceAll(msg, c.keyspace, "<keyspace>"), nil
}

// classify marks errors that say nothing about the statement (Cassandra
// down, slow or overloaded) with ErrUnavailable; others are the
// statement's fault and final.
func classify(err error) error {
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeSyntax, gocql.ErrCodeInvalid, gocql.ErrCodeConfig, gocql.ErrCodeAlreadyExists,
			gocql.ErrCodeUnauthorized, gocql.ErrCodeFunctionFailure:
			return errors.New(re.Message())
		}
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}
