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
}

// State is what a replica has durably applied.
type State struct {
	Applied uint64 // last applied log sequence
	Epoch   uint64 // highest leader epoch applied
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
	// unsure is set after a failed Apply: the next one first checks
	// whether the write landed anyway. Only the apply loop calls Apply.
	unsure bool
}

// State and request tables; user statements may not touch them.
const (
	stateTable    = "chorus_state"
	requestsTable = "chorus_requests"
)

// IsReservedTable reports whether name is one of Chorus's own tables.
func IsReservedTable(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "chorus_")
}

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
		`CREATE TABLE IF NOT EXISTS ` + stateTable + ` (id int PRIMARY KEY, applied bigint, epoch bigint)`,
		`CREATE TABLE IF NOT EXISTS ` + requestsTable + ` (id text PRIMARY KEY, seq bigint, code int, error text)`,
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
	return c, st, nil
}

func (c *Cassandra) state(ctx context.Context) (State, error) {
	var applied, epoch int64
	err := c.session.Query(`SELECT applied, epoch FROM `+stateTable+` WHERE id = 0`).WithContext(ctx).Scan(&applied, &epoch)
	if errors.Is(err, gocql.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		if lost(err) {
			return State{}, fmt.Errorf("%w: %s: %v", ErrKeyspaceLost, c.keyspace, err)
		}
		return State{}, fmt.Errorf("reading applied state of %s: %w", c.keyspace, classify(err))
	}
	return State{Applied: uint64(applied), Epoch: uint64(epoch)}, nil
}

// Close ends the session.
func (c *Cassandra) Close() { c.session.Close() }

// Keyspace is the keyspace this store owns.
func (c *Cassandra) Keyspace() string { return c.keyspace }

const (
	recordState   = `UPDATE ` + stateTable + ` SET applied = ?, epoch = ? WHERE id = 0`
	recordRequest = `INSERT INTO ` + requestsTable + ` (id, seq, code, error) VALUES (?, ?, ?, ?) USING TTL ?`
)

// Apply applies the write o with o's timestamp, atomically with the record
// of o.Seq and its outcome when Cassandra allows it (plain writes and
// logged batches). Statements Cassandra cannot batch (schema changes,
// TRUNCATE, counters, conditional writes, explicit timestamps) run alone
// and are recorded right after. The outcome is the statement's own result,
// the same on every replica; the error is a storage failure to retry.
func (c *Cassandra) Apply(ctx context.Context, o messages.Order) (messages.Outcome, error) {
	// A retry after a failure may find the write already applied (the
	// failure may have been a timeout of a batch that did land).
	if c.unsure {
		st, err := c.state(ctx)
		if err != nil {
			return messages.Outcome{}, err
		}
		c.unsure = false
		if st.Applied >= o.Seq {
			return c.recordedOutcome(ctx, o)
		}
	}
	out, err := c.apply(ctx, o)
	c.unsure = err != nil
	return out, err
}

func (c *Cassandra) apply(ctx context.Context, o messages.Order) (messages.Outcome, error) {
	stmt, err := cql.Parse(o.Stmt, c.keyspace)
	if err != nil { // the leader ordered it, so every replica rejects it alike
		return c.recordOnly(ctx, o, messages.Outcome{Seq: o.Seq, Code: messages.CodeBadRequest, Error: err.Error()})
	}
	if q := c.atomicQuery(ctx, stmt, o); q != nil {
		err := q()
		if err == nil {
			return messages.Outcome{Seq: o.Seq}, nil
		}
		if err = classify(err); errors.Is(err, ErrUnavailable) {
			return messages.Outcome{}, err
		}
		// Rejected: run it alone below, so the client sees the statement's
		// own error (and a statement Cassandra refuses to batch still runs).
	}
	q := c.session.Query(stmt.Text).WithContext(ctx)
	if !stmt.Kind.IsSchema() && !stmt.UsingTimestamp && !stmt.Conditional {
		q = q.WithTimestamp(o.Timestamp)
	}
	out := messages.Outcome{Seq: o.Seq}
	if stmt.Conditional {
		applied, err := q.MapScanCAS(map[string]any{})
		if err == nil && !applied {
			// Cassandra reports a failed condition as a result, not an error.
			out.Code, out.Error = messages.CodeCQL, "condition not met: write not applied"
		}
		if err != nil {
			if out.Code, out.Error, err = c.statementError(err); err != nil {
				return messages.Outcome{}, err
			}
		}
	} else if err := q.Exec(); err != nil {
		if out.Code, out.Error, err = c.statementError(err); err != nil {
			return messages.Outcome{}, err
		}
	}
	return c.recordOnly(ctx, o, out)
}

// atomicQuery returns the execution of o together with its record in one
// logged batch, or nil when Cassandra cannot batch the statement.
func (c *Cassandra) atomicQuery(ctx context.Context, stmt cql.Statement, o messages.Order) func() error {
	if stmt.Conditional || stmt.UsingTimestamp {
		return nil
	}
	switch stmt.Kind {
	case cql.KindInsert, cql.KindUpdate, cql.KindDelete:
		b := c.session.NewBatch(gocql.LoggedBatch).WithTimestamp(o.Timestamp).WithContext(ctx)
		b.Query(stmt.Text)
		b.Query(recordState, int64(o.Seq), int64(o.Epoch))
		b.Query(recordRequest, o.RequestID, int64(o.Seq), 0, "", c.ttl)
		return func() error { return c.session.ExecuteBatch(b) }
	case cql.KindBatch:
		if stmt.BatchType != "LOGGED" {
			return nil
		}
		// The client's batch is one query: splice the record into it.
		text := stmt.Text[:stmt.ApplyOffset] + " " + recordState + "; " + recordRequest + "; " + stmt.Text[stmt.ApplyOffset:]
		q := c.session.Query(text, int64(o.Seq), int64(o.Epoch), o.RequestID, int64(o.Seq), 0, "", c.ttl).
			WithTimestamp(o.Timestamp).WithContext(ctx)
		return q.Exec
	}
	return nil
}

// recordOnly records o as applied with outcome out, without data changes.
func (c *Cassandra) recordOnly(ctx context.Context, o messages.Order, out messages.Outcome) (messages.Outcome, error) {
	b := c.session.NewBatch(gocql.LoggedBatch).WithTimestamp(o.Timestamp).WithContext(ctx)
	b.Query(recordState, int64(o.Seq), int64(o.Epoch))
	b.Query(recordRequest, o.RequestID, int64(o.Seq), int(out.Code), out.Error, c.ttl)
	if err := c.session.ExecuteBatch(b); err != nil {
		return messages.Outcome{}, fmt.Errorf("recording seq %d in %s: %w", o.Seq, c.keyspace, classify(err))
	}
	return out, nil
}

// recordedOutcome is the outcome recorded for o, already applied.
func (c *Cassandra) recordedOutcome(ctx context.Context, o messages.Order) (messages.Outcome, error) {
	var seq int64
	var code int
	var msg string
	err := c.session.Query(`SELECT seq, code, error FROM `+requestsTable+` WHERE id = ?`, o.RequestID).WithContext(ctx).Scan(&seq, &code, &msg)
	if errors.Is(err, gocql.ErrNotFound) || uint64(seq) != o.Seq {
		return messages.Outcome{Seq: o.Seq}, nil
	}
	if err != nil {
		return messages.Outcome{}, classify(err)
	}
	return messages.Outcome{Seq: o.Seq, Code: messages.Code(code), Error: msg}, nil
}

// Requests lists the remembered request ids, to rebuild the exactly-once
// window after a restart.
func (c *Cassandra) Requests(ctx context.Context) ([]Request, error) {
	iter := c.session.Query(`SELECT id, seq, code, error FROM ` + requestsTable).WithContext(ctx).PageSize(5000).Iter()
	var out []Request
	var id, msg string
	var seq int64
	var code int
	for iter.Scan(&id, &seq, &code, &msg) {
		out = append(out, Request{ID: id, Outcome: messages.Outcome{Seq: uint64(seq), Code: messages.Code(code), Error: msg}})
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
