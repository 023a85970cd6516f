package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/cql"
)

// Under the leader's fixed timestamp an INSERT, an UPDATE or a DELETE that
// writes no list and no counter cell stores the same cells however often
// it runs (docs: cassandra-facts). Such writes need no logged batch to
// stay exactly-once: they go to Cassandra in an unlogged batch with their
// request records, and the progress is written after it. A crash or a
// failure in between applies them again, which changes nothing. A logged
// batch costs Cassandra a batchlog entry (the whole batch written once
// more) and its removal; an unlogged one does not.

// idempotent reports whether st can be applied twice without harm: a plain
// INSERT, UPDATE or DELETE on tables without list or counter columns.
func (c *Cassandra) idempotent(ctx context.Context, st cql.Statement) (bool, error) {
	switch st.Kind {
	case cql.KindInsert, cql.KindUpdate, cql.KindDelete:
	default:
		return false, nil
	}
	if st.Conditional || st.UsingTimestamp || len(st.Names) == 0 {
		return false, nil
	}
	if c.unsafeTables == nil {
		m, err := c.readUnsafeTables(ctx)
		if err != nil {
			return false, err
		}
		c.unsafeTables = m
	}
	for _, name := range st.Names {
		if unsafe, known := c.unsafeTables[name]; unsafe || !known {
			return false, nil // a table this store does not know is left to Cassandra's checks
		}
	}
	return true, nil
}

// readUnsafeTables maps each table of the keyspace to whether it has a
// list or a counter column (a frozen list is one cell, and safe). Names
// are as cql.Statement gives them: lower case, or as quoted.
func (c *Cassandra) readUnsafeTables(ctx context.Context) (map[string]bool, error) {
	iter := c.session.Query(`SELECT table_name, type FROM system_schema.columns WHERE keyspace_name = ?`, c.keyspace).WithContext(ctx).Iter()
	m := map[string]bool{}
	var table, typ string
	for iter.Scan(&table, &typ) {
		m[table] = m[table] || strings.HasPrefix(typ, "list<") || typ == "counter"
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("reading the column types of %s: %w", c.keyspace, classify(err))
	}
	return m, nil
}

// schemaChanged forgets the column types after this store changed the
// keyspace's schema (a schema change, a reset, a restore).
func (c *Cassandra) schemaChanged() { c.unsafeTables = nil }

// applyIdempotent applies writes that may be applied twice: with their
// request records in an unlogged batch, then the progress past them.
func (c *Cassandra) applyIdempotent(ctx context.Context, rs []ref) error {
	b := c.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx).Observer(writeObserver{&c.failedOn})
	for _, r := range rs {
		text, err := cql.WithTimestamp(r.st, r.o.WriteTimestamp(r.k))
		if err != nil {
			return err
		}
		b.Query(text)
		b.Query(recordRequest, r.o.Writes[r.k].RequestID, int64(r.o.Seq), r.k, 0, "", c.ttl, r.o.WriteTimestamp(r.k))
	}
	if err := c.session.ExecuteBatch(b); err != nil {
		return classify(err)
	}
	last := rs[len(rs)-1]
	applied, partial := progress(last.o, last.k+1)
	q := c.session.Query(recordState, last.o.WriteTimestamp(last.k), int64(applied), int64(last.o.Epoch), partial).
		WithContext(ctx).Observer(writeObserver{&c.failedOn})
	if err := q.Exec(); err != nil {
		return fmt.Errorf("recording progress at seq %d in %s: %w", last.o.Seq, c.keyspace, classify(err))
	}
	c.advance(last.o, last.k+1)
	return nil
}
