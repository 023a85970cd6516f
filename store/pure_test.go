package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

func TestProgress(t *testing.T) {
	three := &messages.Order{Seq: 10, Writes: make([]messages.Write, 3)}
	none := &messages.Order{Seq: 10}
	for _, tc := range []struct {
		name        string
		o           *messages.Order
		next        int
		wantApplied uint64
		wantPartial int
	}{
		{"nothing applied yet", three, 0, 9, 0},
		{"first write applied", three, 1, 9, 1},
		{"all but the last applied", three, 2, 9, 2},
		{"all applied", three, 3, 10, 0},
		{"past the end", three, 4, 10, 0},
		{"ORDER without writes", none, 0, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			applied, partial := progress(tc.o, tc.next)
			if applied != tc.wantApplied || partial != tc.wantPartial {
				t.Fatalf("progress(seq 10 with %d writes, %d) = %d, %d; want %d, %d",
					len(tc.o.Writes), tc.next, applied, partial, tc.wantApplied, tc.wantPartial)
			}
		})
	}
}

func TestBatchable(t *testing.T) {
	for _, tc := range []struct {
		stmt string
		want bool
	}{
		{"INSERT INTO grade (id, v) VALUES (1, 2)", true},
		{"UPDATE grade SET v = 3 WHERE id = 1", true},
		{"DELETE FROM grade WHERE id = 1", true},
		{"INSERT INTO grade (id, v) VALUES (1, 2) IF NOT EXISTS", false},
		{"UPDATE grade SET v = 3 WHERE id = 1 IF v = 2", false},
		{"DELETE FROM grade WHERE id = 1 IF EXISTS", false},
		{"INSERT INTO grade (id, v) VALUES (1, 2) USING TIMESTAMP 5", false},
		{"UPDATE grade USING TIMESTAMP 5 SET v = 3 WHERE id = 1", false},
		{"BEGIN BATCH INSERT INTO grade (id, v) VALUES (1, 2); APPLY BATCH", false},
		{"TRUNCATE grade", false},
		{"CREATE TABLE grade (id int PRIMARY KEY, v int)", false},
		{"ALTER TABLE grade ADD w int", false},
		{"DROP TABLE grade", false},
		{"CREATE INDEX ON grade (v)", false},
		{"SELECT * FROM grade", false},
	} {
		t.Run(tc.stmt, func(t *testing.T) {
			st, err := cql.Parse(tc.stmt, "server1")
			if err != nil {
				t.Fatalf("cql.Parse: %v", err)
			}
			if got := batchable(st); got != tc.want {
				t.Fatalf("batchable(%s %q) = %v; want %v", st.Kind, tc.stmt, got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		// final: the statement's own error, with Cassandra's message as
		// its text; else a storage failure wrapping ErrUnavailable.
		final bool
	}{
		{"syntax", reqErr{gocql.ErrCodeSyntax, "line 1:0 no viable alternative"}, true},
		{"invalid", reqErr{gocql.ErrCodeInvalid, "Undefined column name x"}, true},
		{"config", reqErr{gocql.ErrCodeConfig, "bad table option"}, true},
		{"already exists", reqErr{gocql.ErrCodeAlreadyExists, "Cannot add already existing table"}, true},
		{"unauthorized", reqErr{gocql.ErrCodeUnauthorized, "no MODIFY permission"}, true},
		{"function failure", reqErr{gocql.ErrCodeFunctionFailure, "execution of f failed"}, true},
		{"wrapped invalid", fmt.Errorf("executing: %w", reqErr{gocql.ErrCodeInvalid, "Undefined column name x"}), true},
		{"unavailable", reqErr{gocql.ErrCodeUnavailable, "Cannot achieve consistency level QUORUM"}, false},
		{"write timeout", reqErr{gocql.ErrCodeWriteTimeout, "Operation timed out"}, false},
		{"read timeout", reqErr{gocql.ErrCodeReadTimeout, "Operation timed out"}, false},
		{"overloaded", reqErr{gocql.ErrCodeOverloaded, "overloaded"}, false},
		{"bootstrapping", reqErr{gocql.ErrCodeBootstrapping, "bootstrapping"}, false},
		{"server error", reqErr{gocql.ErrCodeServer, "java.lang.RuntimeException"}, false},
		{"write failure", reqErr{gocql.ErrCodeWriteFailure, "failure"}, false},
		{"truncate error", reqErr{gocql.ErrCodeTruncate, "truncate failed"}, false},
		// gocql's own types for the timeout family, as it returns them.
		{"gocql write timeout", &gocql.RequestErrWriteTimeout{}, false},
		{"gocql unavailable", &gocql.RequestErrUnavailable{}, false},
		{"gocql read timeout", &gocql.RequestErrReadTimeout{}, false},
		{"no response", gocql.ErrTimeoutNoResponse, false},
		{"no connections", gocql.ErrNoConnections, false},
		{"session closed", gocql.ErrSessionClosed, false},
		{"context deadline", context.DeadlineExceeded, false},
		{"context canceled", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if tc.final {
				var re gocql.RequestError
				errors.As(tc.err, &re)
				if errors.Is(got, ErrUnavailable) || got.Error() != re.Message() {
					t.Fatalf("classify(%v) = %q; want the statement's own error %q", tc.err, got, re.Message())
				}
				return
			}
			if !errors.Is(got, ErrUnavailable) || !strings.Contains(got.Error(), tc.err.Error()) {
				t.Fatalf("classify(%v) = %q; want ErrUnavailable with the cause", tc.err, got)
			}
		})
	}
}

func TestSortColumns(t *testing.T) {
	cols := []Column{
		{Name: "b", Kind: ColumnRegular, Position: -1},
		{Name: "c2", Kind: ColumnClustering, Position: 1},
		{Name: "s", Kind: ColumnStatic, Position: -1},
		{Name: "k1", Kind: ColumnPartitionKey, Position: 1},
		{Name: "a", Kind: ColumnRegular, Position: -1},
		{Name: "c1", Kind: ColumnClustering, Position: 0},
		{Name: "k0", Kind: ColumnPartitionKey, Position: 0},
	}
	sortColumns(cols)
	var got []string
	for _, c := range cols {
		got = append(got, c.Name)
	}
	if want := []string{"k0", "k1", "c1", "c2", "s", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("sortColumns: %q, want %q", got, want)
	}
}
