package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/chorusdb/chorus/messages"
)

// Reset empties the keyspace so that a snapshot can be restored into it:
// every user table and type is dropped, Chorus's records cleared, and the
// keyspace gets a new generation (a new life, as far as membership goes).
// A restore always starts with it, so one that broke off is simply redone.
func (c *Cassandra) Reset(ctx context.Context) (State, error) {
	tables, err := c.names(ctx, `SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?`)
	if err != nil {
		return State{}, err
	}
	for _, t := range tables {
		q := `DROP TABLE IF EXISTS ` + quoteName(t)
		if IsReservedTable(t) {
			if t == genTable {
				q = `TRUNCATE ` + genTable
			} else {
				q = `TRUNCATE ` + quoteName(t)
			}
		}
		if err := c.session.Query(q).WithContext(ctx).Exec(); err != nil {
			return State{}, fmt.Errorf("emptying %s (%s): %w", c.keyspace, q, classify(err))
		}
	}
	// Types may use each other: drop what can be dropped until none is left.
	for range 16 {
		types, err := c.names(ctx, `SELECT type_name FROM system_schema.types WHERE keyspace_name = ?`)
		if err != nil {
			return State{}, err
		}
		if len(types) == 0 {
			break
		}
		var errs []string
		for _, t := range types {
			if err := c.session.Query(`DROP TYPE IF EXISTS ` + quoteName(t)).WithContext(ctx).Exec(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) == len(types) {
			return State{}, fmt.Errorf("dropping the types of %s: %s", c.keyspace, strings.Join(errs, "; "))
		}
	}
	gen, err := c.gen(ctx)
	if err != nil {
		return State{}, err
	}
	c.st = State{Gen: gen}
	c.unsure, c.horizon = false, 0
	return c.st, nil
}

func (c *Cassandra) names(ctx context.Context, q string) ([]string, error) {
	iter := c.session.Query(q, c.keyspace).WithContext(ctx).Iter()
	var out []string
	var name string
	for iter.Scan(&name) {
		out = append(out, name)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("listing the schema of %s: %w", c.keyspace, classify(err))
	}
	return out, nil
}

// Reset empties the Memory, with a new generation (Cassandra.Reset).
func (m *Memory) Reset(context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return State{}, ErrClosed
	}
	m.st = State{Gen: newGen()}
	m.history = nil
	m.requests = map[string]messages.Outcome{}
	m.members = map[string]messages.Member{}
	return m.st, nil
}
