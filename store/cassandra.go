// Package store is a replica's storage: its own Cassandra keyspace, where
// every write is applied together with the record of its log position.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
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
	// Replication of the keyspace when this store creates it; the zero
	// value is SimpleStrategy with ReplicationFactor.
	Replication Replication
	// Consistency of every read and write (a gocql name); "" is
	// DefaultConsistency. Conditional writes use SerialFor it.
	Consistency string
	Timeout     time.Duration // per Cassandra request
	DedupWindow time.Duration // how long request ids are remembered
	MaxRows     int           // largest read answered
	// TLS to Cassandra: on when TLSCA is set (with host verification);
	// TLSCert and TLSKey give a client certificate.
	TLSCA, TLSCert, TLSKey string
	// Log hears what the store waits for (nil: nothing is logged).
	Log *slog.Logger
}

// State is what a replica has durably applied.
type State struct {
	Applied uint64 // last log sequence whose writes are all applied
	Epoch   uint64 // highest leader epoch applied
	Partial uint32 // writes of ORDER Applied+1 already applied (a crash mid-ORDER)
	// Gen names this life of the keyspace: made when the keyspace is new
	// (created, rebuilt or about to be restored), so a removed member can
	// rejoin only with a new keyspace (messages.MemberChange).
	Gen string
	// TS is the write timestamp of the progress record: that of the last
	// write recorded (reading it is only done at open).
	TS int64
}

// newGen makes a keyspace generation.
func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
//   - chorus_outcomes: each applied write's request id and outcome
//     (exactly-once), keyed by its log position, with a TTL of the dedup
//     window (outcomes.go).
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
	// warnings are what the operator should know about the keyspace's
	// replication and consistency, found at open (the worker logs them).
	warnings []string
	// doubt is when a write last failed without a clear answer; the next
	// Apply first waits until Cassandra can no longer replay it (batchfate.go).
	doubt    time.Time
	failedOn atomic.Pointer[net.IP] // the node that ran the last failed write (writeObserver; lanes write at once)
	// horizon is the last ORDER whose writes a chunk of lanes may have
	// landed beyond the progress (lanes.go); 0: none.
	horizon uint64
	laned   int // chunks applied in lanes (tests)
	logs    *batchlogs
	log     *slog.Logger
}

// State and request tables; user statements may not touch them.
const (
	stateTable    = "chorus_state"
	outcomesTable = "chorus_outcomes"
	membersTable  = "chorus_members"
	genTable      = "chorus_gen"
)

// requestsOptions keep the expired exactly-once records from piling up as
// tombstones: every record expires after the dedup window, so a worker
// that has run for longer holds one expired record per old write, and a
// scan of them (at start, and for a snapshot) fails with Cassandra's
// READ_TOO_MANY_TOMBSTONES once more than 100,000 lie in its way (found by
// the join benchmark with a short window). The records are only ever
// inserted with a TTL, never deleted, so a short grace period cannot bring
// a deleted record back, and time windows let Cassandra drop whole
// expired SSTables. The grace is not 0: Cassandra never replays a logged
// batch that writes a table without grace, and a batch of the store left
// half applied by a coordinator's death would stay so (batchfate.go).
var requestsOptions = graceOption + ` AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': '1'}`

// graceOption is chorus_state's and chorus_outcomes' grace: the time within
// which Cassandra replays a failed logged batch of the store. Neither
// table has deletions a short grace could bring back.
var graceOption = fmt.Sprintf(`gc_grace_seconds = %d`, int(batchGrace/time.Second))

// IsReservedTable reports whether name is one of Chorus's own tables
// (check.IsReservedTable: the rule lives with the admission checks).
func IsReservedTable(name string) bool { return check.IsReservedTable(name) }

// OpenCassandra connects, creates the keyspace and Chorus's tables if they
// are missing, and reads the applied state.
func OpenCassandra(ctx context.Context, cfg Config) (*Cassandra, State, error) {
	repl := cfg.replication()
	cl, err := ParseConsistency(cfg.Consistency, repl)
	if err != nil {
		return nil, State{}, fmt.Errorf("store: consistency of keyspace %s: %w", cfg.Keyspace, err)
	}
	var warnings []string
	if risk := ConsistencyRisk(cl, repl); risk != "" {
		warnings = append(warnings, "keyspace "+cfg.Keyspace+": "+risk)
	}
	cluster := gocql.NewCluster(cfg.Hosts...)
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.Timeout
	// Every query of the store (applies, reads, snapshots, restores,
	// resets) runs at the session's levels.
	cluster.Consistency = cl
	cluster.SerialConsistency = SerialFor(cl)
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
	err = sys.Query(createKeyspace(cfg.Keyspace, repl)).WithContext(ctx).Exec()
	var has map[string]string
	if err == nil {
		err = sys.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, cfg.Keyspace).WithContext(ctx).Scan(&has)
	}
	sys.Close()
	if err != nil {
		return nil, State{}, fmt.Errorf("creating keyspace %s: %w", cfg.Keyspace, classify(err))
	}
	if diff := ReplicationDiff(repl, has); diff != "" {
		warnings = append(warnings, replicationWarning(cfg.Keyspace, repl, diff))
	}
	cluster.Keyspace = cfg.Keyspace
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, State{}, fmt.Errorf("%w: connecting to keyspace %s: %v", ErrUnavailable, cfg.Keyspace, err)
	}
	c := &Cassandra{session: session, keyspace: cfg.Keyspace, ttl: int(cfg.DedupWindow / time.Second), maxRows: cfg.MaxRows, warnings: warnings,
		logs: newBatchlogs(cluster, cfg.Hosts), log: cfg.Log}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS ` + stateTable + ` (id int PRIMARY KEY, applied bigint, epoch bigint, partial int) WITH ` + graceOption,
		`ALTER TABLE ` + stateTable + ` WITH ` + graceOption,
		createOutcomes,
		`CREATE TABLE IF NOT EXISTS ` + membersTable + ` (id text PRIMARY KEY, gen text, removed boolean, seq bigint)`,
		`CREATE TABLE IF NOT EXISTS ` + genTable + ` (id int PRIMARY KEY, gen text)`,
		createIntent,
	} {
		if err := session.Query(ddl).WithContext(ctx).Exec(); err != nil {
			session.Close()
			return nil, State{}, fmt.Errorf("creating %s tables: %w", cfg.Keyspace, classify(err))
		}
	}
	st, err := c.state(ctx)
	if err == nil {
		st.Gen, err = c.gen(ctx)
	}
	if err == nil {
		err = c.migrateRequests(ctx)
	}
	if err == nil {
		c.st = st // findHorizon looks beyond it
		err = c.findHorizon(ctx)
	}
	if err != nil {
		session.Close()
		return nil, State{}, err
	}
	return c, st, nil
}

// replication is the configured replication, completed with its defaults.
func (cfg Config) replication() Replication {
	r := cfg.Replication
	if r.Strategy == "" {
		r.Strategy = SimpleStrategy
	}
	if r.Strategy == SimpleStrategy && r.Factor == 0 {
		r.Factor = max(cfg.ReplicationFactor, 1)
	}
	return r
}

// createKeyspace is the CQL that creates keyspace ks replicated as r.
func createKeyspace(ks string, r Replication) string {
	return fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %q WITH replication = %s`, ks, r.CQL())
}

// Warnings says what the operator should know about the keyspace: a
// replication other than configured (with what to run), a consistency
// that lets reads miss writes.
func (c *Cassandra) Warnings() []string { return c.warnings }

// gen reads the keyspace's generation, making one for a new keyspace.
func (c *Cassandra) gen(ctx context.Context) (string, error) {
	var gen string
	err := c.session.Query(`SELECT gen FROM ` + genTable + ` WHERE id = 0`).WithContext(ctx).Scan(&gen)
	if err == nil && gen != "" {
		return gen, nil
	}
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return "", fmt.Errorf("reading the generation of %s: %w", c.keyspace, classify(err))
	}
	// IF NOT EXISTS: two processes opening one new keyspace agree on it.
	gen = newGen()
	m := map[string]any{}
	applied, err := c.session.Query(`INSERT INTO `+genTable+` (id, gen) VALUES (0, ?) IF NOT EXISTS`, gen).WithContext(ctx).MapScanCAS(m)
	if err != nil {
		return "", fmt.Errorf("recording the generation of %s: %w", c.keyspace, classify(err))
	}
	if !applied {
		gen, _ = m["gen"].(string)
	}
	return gen, nil
}

// Members lists the cluster's members as this replica has applied them.
func (c *Cassandra) Members(ctx context.Context) ([]messages.Member, error) {
	iter := c.session.Query(`SELECT id, gen, removed, seq FROM ` + membersTable).WithContext(ctx).Iter()
	var out []messages.Member
	var m messages.Member
	var seq int64
	for iter.Scan(&m.ID, &m.Gen, &m.Removed, &seq) {
		m.Seq = uint64(seq)
		out = append(out, m)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading the members of %s: %w", c.keyspace, classify(err))
	}
	return out, nil
}

// recordMember is one member's row, written with the progress record.
const recordMember = `INSERT INTO ` + membersTable + ` (id, gen, removed, seq) VALUES (?, ?, ?, ?) USING TIMESTAMP ?`

// applyMember applies a membership ORDER: the member's row and the
// progress past it, in one logged batch.
func (c *Cassandra) applyMember(ctx context.Context, o *messages.Order) error {
	ch := o.Member
	b := c.logged(ctx)
	b.Query(recordMember, ch.ID, ch.Gen, ch.Op == messages.MemberRemove, int64(o.Seq), o.Timestamp)
	b.Query(recordState, o.Timestamp, int64(o.Seq), int64(o.Epoch), 0)
	if err := c.session.ExecuteBatch(b); err != nil {
		return fmt.Errorf("recording member change at seq %d in %s: %w", o.Seq, c.keyspace, classify(err))
	}
	c.advance(o, 0)
	return nil
}

// Adopt makes a keyspace just loaded from a snapshot continue the log
// after seq applied: the snapshot's members, then the progress record —
// last, so a keyspace whose restore broke off has tables but no progress.
// ts is the write timestamp of the snapshot's ORDER: above the imported
// progress record's, below every later write of the log.
func (c *Cassandra) Adopt(ctx context.Context, applied, epoch uint64, ts int64, members []messages.Member) error {
	for _, m := range members {
		if err := c.session.Query(recordMember, m.ID, m.Gen, m.Removed, int64(m.Seq), ts).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("restoring the members of %s: %w", c.keyspace, classify(err))
		}
	}
	if err := c.session.Query(recordState, ts, int64(applied), int64(epoch), 0).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("restoring the progress of %s: %w", c.keyspace, classify(err))
	}
	c.st, c.horizon = State{Applied: applied, Epoch: epoch, Gen: c.st.Gen, TS: ts}, 0
	return nil
}

func (c *Cassandra) state(ctx context.Context) (State, error) {
	var applied, epoch, ts int64
	var partial int
	err := c.session.Query(`SELECT applied, epoch, partial, WRITETIME(applied) FROM `+stateTable+` WHERE id = 0`).WithContext(ctx).Scan(&applied, &epoch, &partial, &ts)
	if errors.Is(err, gocql.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		if lost(err) {
			return State{}, fmt.Errorf("%w: %s: %v", ErrKeyspaceLost, c.keyspace, err)
		}
		return State{}, fmt.Errorf("reading applied state of %s: %w", c.keyspace, classify(err))
	}
	return State{Applied: uint64(applied), Epoch: uint64(epoch), Partial: uint32(partial), TS: ts}, nil
}

// Close ends the session.
func (c *Cassandra) Close() {
	c.session.Close()
	c.logs.close()
}

// Keyspace is the keyspace this store owns.
func (c *Cassandra) Keyspace() string { return c.keyspace }

// The record of progress: written in the same logged batch as the writes
// it covers, with explicit timestamps that grow with the log.
const (
	recordState   = `UPDATE ` + stateTable + ` USING TIMESTAMP ? SET applied = ?, epoch = ?, partial = ? WHERE id = 0`
	recordRequest = `INSERT INTO ` + outcomesTable + ` (bucket, seq, idx, id, code, error) VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`
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
// run alone and are recorded right after; a schema change run again after
// its record failed is recognised by the keyspace's schema (intent.go).
// The outcomes are the statements' own results, the same on every
// replica; the error is a storage failure: retry the same ORDERs.
func (c *Cassandra) Apply(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	if c.unsure {
		if !c.doubt.IsZero() {
			if err := c.logs.awaitSettled(ctx, c.doubt, c.coordinator(), c.landed); err != nil {
				return nil, err
			}
			c.log.Info("a write that failed without an answer is settled in Cassandra's batchlogs; applying what is missing",
				"failed", c.doubt.UTC().Format(time.RFC3339Nano), "coordinator", c.coordinator(), "waited", time.Since(c.doubt).Round(time.Millisecond))
			c.doubt = time.Time{}
		}
		st, err := c.state(ctx)
		if err != nil {
			return nil, err
		}
		st.Gen = c.st.Gen
		c.st, c.unsure = st, false
	}
	out := make([][]messages.Outcome, len(orders))
	var err error
	for i := 0; i < len(orders) && err == nil; {
		if orders[i].Kind == messages.OrderMember {
			if orders[i].Seq > c.st.Applied {
				err = c.applyMember(ctx, &orders[i])
			}
			i++
			continue
		}
		j := i
		for j < len(orders) && orders[j].Kind != messages.OrderMember {
			j++
		}
		var part [][]messages.Outcome
		if part, err = c.apply(ctx, orders[i:j]); err == nil {
			copy(out[i:j], part)
		}
		i = j
	}
	c.unsure = err != nil
	if err != nil {
		if errors.Is(err, ErrUnavailable) { // a write may be on its way
			c.doubt = time.Now()
		}
		return nil, err
	}
	return out, nil
}

// landed reports whether the durable progress is past what this store
// last wrote: the write that failed unanswered took effect.
func (c *Cassandra) landed(ctx context.Context) (bool, error) {
	st, err := c.state(ctx)
	if err != nil {
		return false, err
	}
	return st.Applied > c.st.Applied || (st.Applied == c.st.Applied && st.Partial > c.st.Partial), nil
}

// logged is a logged batch of the store's writes, watched for the node
// that runs it should it fail.
func (c *Cassandra) logged(ctx context.Context) *gocql.Batch {
	return c.session.NewBatch(gocql.LoggedBatch).WithContext(ctx).Observer(writeObserver{&c.failedOn})
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
			st, err := cql.Parse(ttlLeft(o.Writes[k].Stmt, o.WriteTimestamp(k), time.Now()), c.keyspace)
			todo = append(todo, ref{n: n, o: o, k: k, st: st, perr: err})
			outs[n][k] = messages.Outcome{Seq: o.Seq, Index: uint32(k)}
		}
	}
	todo, err := c.withoutLanded(ctx, todo, outs)
	if err == nil {
		todo, err = c.applyLaned(ctx, todo, outs)
	}
	if err != nil {
		return nil, err
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
	if err := c.coverLanded(ctx, orders); err != nil {
		return nil, err
	}
	if c.st.Applied >= c.horizon {
		c.horizon = 0
	}
	return outs, nil
}

// ttlLeft is stmt with its TTLs counted from the write's timestamp (the
// leader's clock) rather than from now: a replica applying it late gives
// its cells what is left of their life (cql.WithTTLElapsed).
func ttlLeft(stmt string, ts int64, now time.Time) string {
	out, _ := cql.WithTTLElapsed(stmt, (now.UnixMicro()-ts)/1e6)
	return out
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
	c.addOutcomes(b, rs)
	last := rs[len(rs)-1]
	applied, partial := progress(last.o, last.k+1)
	b.Query(recordState, last.o.WriteTimestamp(last.k), int64(applied), int64(last.o.Epoch), partial)
}

// addOutcomes adds to b the records of the successful writes rs.
func (c *Cassandra) addOutcomes(b *gocql.Batch, rs []ref) {
	for _, r := range rs {
		b.Query(recordRequest, bucketOf(r.o.Seq), int64(r.o.Seq), r.k, recordedID(r.o.Writes[r.k].RequestID), 0, "", c.ttl, r.o.WriteTimestamp(r.k))
	}
}

func (c *Cassandra) applyGroup(ctx context.Context, rs []ref) error {
	if err := c.applyBatch(ctx, rs, true); err != nil {
		return err
	}
	last := rs[len(rs)-1]
	c.advance(last.o, last.k+1)
	return nil
}

// applyBatch applies rs in one logged batch with their records, and the
// progress after them if withProgress (lanes move it once all landed).
func (c *Cassandra) applyBatch(ctx context.Context, rs []ref, withProgress bool) error {
	b := c.logged(ctx)
	for _, r := range rs {
		text, err := cql.WithTimestamp(r.st, r.o.WriteTimestamp(r.k))
		if err != nil {
			return err
		}
		b.Query(text)
	}
	if withProgress {
		c.addRecords(b, rs)
	} else {
		c.addOutcomes(b, rs)
	}
	if err := c.session.ExecuteBatch(b); err != nil {
		return classify(err)
	}
	return nil
}

func (c *Cassandra) advance(o *messages.Order, next int) {
	applied, partial := progress(o, next)
	c.st = State{Applied: applied, Epoch: max(c.st.Epoch, o.Epoch), Partial: uint32(partial), Gen: c.st.Gen}
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
	if schemaChange(stmt) {
		ran, err := c.ranBefore(ctx, o, k)
		if err != nil {
			return out, err
		}
		if ran {
			return c.recordOnly(ctx, o, k, out)
		}
	}
	q := c.session.Query(stmt.Text).WithContext(ctx).Observer(writeObserver{&c.failedOn})
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
		b := c.logged(ctx).WithTimestamp(ts)
		b.Query(stmt.Text)
		c.addRecords(b, []ref{r})
		return func() error { return c.session.ExecuteBatch(b) }
	case cql.KindBatch:
		if stmt.BatchType != "LOGGED" {
			return nil
		}
		// The client's batch is one query: splice the record into it.
		text := stmt.Text[:stmt.ApplyOffset] + " " + recordRequest + "; " + recordState + "; " + stmt.Text[stmt.ApplyOffset:]
		q := c.session.Query(text, bucketOf(o.Seq), int64(o.Seq), k, recordedID(o.Writes[k].RequestID), 0, "", c.ttl, ts,
			ts, int64(applied), int64(o.Epoch), partial).WithTimestamp(ts).WithContext(ctx).Observer(writeObserver{&c.failedOn})
		return q.Exec
	}
	return nil
}

// recordOnly records write k of o as applied with outcome out, without
// data changes.
func (c *Cassandra) recordOnly(ctx context.Context, o *messages.Order, k int, out messages.Outcome) (messages.Outcome, error) {
	ts := o.WriteTimestamp(k)
	applied, partial := progress(o, k+1)
	b := c.logged(ctx)
	b.Query(recordRequest, bucketOf(o.Seq), int64(o.Seq), k, recordedID(o.Writes[k].RequestID), int(out.Code), out.Error, c.ttl, ts)
	b.Query(recordState, ts, int64(applied), int64(o.Epoch), partial)
	if err := c.session.ExecuteBatch(b); err != nil {
		return out, fmt.Errorf("recording seq %d write %d in %s: %w", o.Seq, k, c.keyspace, classify(err))
	}
	c.advance(o, k+1)
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
	return messages.CodeCQL, withoutKeyspace(err.Error(), c.keyspace), nil
}

// withoutKeyspace drops "ks." before a table name and replaces any other
// ks with "<keyspace>", but only where ks is a whole name: the tables are
// the same on every replica, so a table "server1_log", or "server1" after
// "ks.", stays as it is (replacing inside it would make replica server1's
// text differ from the others'). A bare table name equal to a keyspace
// name remains ambiguous: do not name tables like keyspaces.
func withoutKeyspace(msg, ks string) string {
	if ks == "" {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !strings.HasPrefix(msg[i:], ks) || (i > 0 && isNameByte(msg[i-1])) ||
			(i+len(ks) < len(msg) && isNameByte(msg[i+len(ks)])) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		i += len(ks)
		if i < len(msg) && msg[i] == '.' {
			// Keep the table name after it verbatim.
			j := i + 1
			for j < len(msg) && isNameByte(msg[j]) {
				j++
			}
			b.WriteString(msg[i+1 : j])
			i = j
			continue
		}
		b.WriteString("<keyspace>")
	}
	return b.String()
}

// isNameByte reports a byte of an unquoted CQL name.
func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
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
