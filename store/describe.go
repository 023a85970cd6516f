package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrNoTable is returned by DescribeTable for a table the keyspace does not
// hold (or one of Chorus's own, which clients may not see).
var ErrNoTable = errors.New("store: no such table")

// Column is one column of a table, as DESCRIBE TABLE answers it: the
// fields of Cassandra's system_schema.columns, named for a reader.
type Column struct {
	Name string `json:"column"`
	Type string `json:"type"`
	// Kind is the column's role: partition_key, clustering, static or
	// regular.
	Kind string `json:"kind"`
	// Position is the column's place within the partition key or the
	// clustering columns, from 0; -1 for static and regular columns.
	Position int `json:"position"`
	// ClusteringOrder is asc or desc for a clustering column, none
	// otherwise.
	ClusteringOrder string `json:"clustering_order"`
}

// The column kinds, as system_schema.columns names them.
const (
	ColumnPartitionKey = "partition_key"
	ColumnClustering   = "clustering"
	ColumnStatic       = "static"
	ColumnRegular      = "regular"
)

// sortColumns puts columns in the order a CREATE TABLE lists them: the
// partition key, then the clustering columns, each by position, then the
// static and the regular columns by name.
func sortColumns(cols []Column) {
	rank := map[string]int{ColumnPartitionKey: 0, ColumnClustering: 1, ColumnStatic: 2, ColumnRegular: 3}
	slices.SortFunc(cols, func(a, b Column) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), cmp.Compare(a.Position, b.Position), cmp.Compare(a.Name, b.Name))
	})
}

// DescribeTables lists the keyspace's own tables, without Chorus's, sorted
// (DESCRIBE TABLES). It reads system_schema for this keyspace only.
func (c *Cassandra) DescribeTables(ctx context.Context) ([]string, error) {
	return c.UserTables(ctx)
}

// DescribeTable lists the columns of the keyspace's table name (exact, as
// Cassandra stores it) in CREATE TABLE order (DESCRIBE TABLE), or fails
// with ErrNoTable. It reads system_schema for this keyspace only.
func (c *Cassandra) DescribeTable(ctx context.Context, name string) ([]Column, error) {
	if IsReservedTable(name) {
		return nil, fmt.Errorf("%w: %s is one of Chorus's own tables", ErrNoTable, name)
	}
	iter := c.session.Query(`SELECT column_name, type, kind, position, clustering_order FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`,
		c.keyspace, name).WithContext(ctx).Iter()
	var cols []Column
	var col Column
	for iter.Scan(&col.Name, &col.Type, &col.Kind, &col.Position, &col.ClusteringOrder) {
		cols = append(cols, col)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("describing table %s of %s: %w", name, c.keyspace, classify(err))
	}
	if len(cols) == 0 { // every table has a partition key
		return nil, fmt.Errorf("%w: keyspace %s has no table %s", ErrNoTable, c.keyspace, name)
	}
	sortColumns(cols)
	return cols, nil
}

// DescribeTables implements the worker's Store: a Memory runs no CQL, so
// it holds no tables.
func (m *Memory) DescribeTables(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	return nil, nil
}

// DescribeTable implements the worker's Store: a Memory holds no tables.
func (m *Memory) DescribeTable(_ context.Context, name string) ([]Column, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	return nil, fmt.Errorf("%w: a Memory store runs no CQL and has no table %s", ErrNoTable, name)
}

// DescribeTables implements the worker's Store.
func (Noop) DescribeTables(context.Context) ([]string, error) { return nil, ErrNoopStore }

// DescribeTable implements the worker's Store.
func (Noop) DescribeTable(context.Context, string) ([]Column, error) { return nil, ErrNoopStore }
