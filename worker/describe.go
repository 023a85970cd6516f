package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
	"github.com/chorusdb/chorus/store"
)

// Columns of the DESCRIBE replies, in the order the rows' keys follow.
var (
	describeTablesColumns = []string{"name"}
	describeTableColumns  = []string{"column", "type", "kind", "position", "clustering_order"}
)

// describe answers DESCRIBE TABLES (table "") or DESCRIBE TABLE table from
// this replica's own schema, in the shape of a read reply: for TABLES one
// row {"name":...} per table, for TABLE one row per column in CREATE TABLE
// order (store.Column). It is never ordered: clients may not read the
// system keyspaces, so the worker reads them for its own keyspace instead.
func (w *Worker) describe(ctx context.Context, q request, table string) {
	w.metrics.Request(metrics.RequestRead)
	qctx, cancel := context.WithTimeout(ctx, w.cfg.CassandraTimeout)
	defer cancel()
	var rows any
	cols := describeTableColumns
	var err error
	if table == "" {
		cols = describeTablesColumns
		var names []string
		names, err = w.store.DescribeTables(qctx)
		list := make([]map[string]string, len(names))
		for i, n := range names {
			list[i] = map[string]string{"name": n}
		}
		rows = list
	} else {
		rows, err = w.store.DescribeTable(qctx, table)
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(rows)
	}
	switch {
	case errors.Is(err, store.ErrUnavailable):
		w.metrics.QueryFailed()
		w.respond(q, messages.Failure(messages.CodeUnavailable, err.Error(), w.cfg.ID, ""))
	case errors.Is(err, store.ErrNoTable):
		w.respond(q, messages.Failure(messages.CodeCQL, fmt.Sprintf("DESCRIBE TABLE %s: %v; DESCRIBE TABLES lists the tables", table, err), w.cfg.ID, ""))
	case err != nil:
		w.respond(q, messages.Failure(messages.CodeCQL, err.Error(), w.cfg.ID, ""))
	default:
		w.respond(q, messages.ReadSuccess(cols, data, w.cfg.ID))
	}
}
