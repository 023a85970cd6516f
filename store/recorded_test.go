package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// reqErr is a Cassandra error reply with a given code, as gocql returns
// it (its own errorFrame cannot be built outside gocql).
type reqErr struct {
	code int
	msg  string
}

func (e reqErr) Code() int       { return e.code }
func (e reqErr) Message() string { return e.msg }
func (e reqErr) Error() string   { return e.msg }

var _ gocql.RequestError = reqErr{}

// TestDecideRecorded covers the outcome of a write found already applied
// when its ORDER is applied again: the recorded outcome when the record is
// its own, a storage error when the record cannot be read (never a
// success), and an explicit "outcome lost" when the record is gone or
// belongs to another position.
func TestDecideRecorded(t *testing.T) {
	const seq, k = 42, 1
	lostOutcome := func(why string) messages.Outcome {
		return messages.Outcome{Seq: seq, Index: k, Code: messages.CodeInternal,
			Error: "seq 42 write 1 was applied, but its outcome is no longer known (" + why + "); check whether the write took effect"}
	}
	for _, tc := range []struct {
		name    string
		id      string // the write's request id ("" unless the case is about it)
		rec     record
		err     error
		want    messages.Outcome
		wantErr error // the error must wrap it; nil: no error
	}{
		{name: "own record, success", rec: record{seq: seq, idx: k},
			want: messages.Outcome{Seq: seq, Index: k}},
		{name: "own record, failure", rec: record{seq: seq, idx: k, code: int(messages.CodeCQL), msg: "Undefined column name x"},
			want: messages.Outcome{Seq: seq, Index: k, Code: messages.CodeCQL, Error: "Undefined column name x"}},
		{name: "read timed out", err: gocql.ErrTimeoutNoResponse, wantErr: ErrUnavailable},
		{name: "read timed out on the server", err: reqErr{gocql.ErrCodeReadTimeout, "Operation timed out - received only 0 responses."}, wantErr: ErrUnavailable},
		{name: "context deadline", err: context.DeadlineExceeded, wantErr: ErrUnavailable},
		{name: "no connection", err: gocql.ErrNoConnections, wantErr: ErrUnavailable},
		{name: "read error with a stale scan", rec: record{seq: seq, idx: k}, err: gocql.ErrTimeoutNoResponse, wantErr: ErrUnavailable},
		{name: "table dropped", err: reqErr{gocql.ErrCodeInvalid, "unconfigured table chorus_outcomes"}, wantErr: ErrKeyspaceLost},
		{name: "record expired", err: gocql.ErrNotFound, want: lostOutcome("its request record expired or was deleted")},
		{name: "id reused by a later ORDER", rec: record{seq: 50, idx: 0},
			want: lostOutcome("its request id was reused by seq 50 write 0")},
		{name: "id reused in the same ORDER", rec: record{seq: seq, idx: 3},
			want: lostOutcome("its request id was reused by seq 42 write 3")},
		{name: "own position, own id", id: "r1", rec: record{id: "r1", seq: seq, idx: k},
			want: messages.Outcome{Seq: seq, Index: k}},
		{name: "own position, another id", id: "r1", rec: record{id: "r9", seq: seq, idx: k},
			want: lostOutcome(`its record names request "r9", not "r1"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decideRecorded(seq, k, tc.id, tc.rec, tc.err)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("decideRecorded = %+v, %v; want an error wrapping %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("decideRecorded = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestDecideRecordedNeverSucceedsOnReadError: whatever a failed read left
// in the scanned values, the write's outcome is not made up.
func TestDecideRecordedNeverSucceedsOnReadError(t *testing.T) {
	errs := []error{gocql.ErrTimeoutNoResponse, fmt.Errorf("wrapped: %w", gocql.ErrTimeoutNoResponse), reqErr{gocql.ErrCodeUnavailable, "Cannot achieve consistency level QUORUM"}}
	recs := []record{{}, {seq: 7, idx: 1}, {seq: 7, idx: 0, code: int(messages.CodeCQL), msg: "x"}}
	for _, readErr := range errs {
		for _, rec := range recs {
			out, err := decideRecorded(7, 1, "r", rec, readErr)
			if err == nil || !strings.Contains(err.Error(), readErr.Error()) {
				t.Errorf("decideRecorded(rec %+v, err %q) = %+v, %v; want the read error", rec, readErr, out, err)
			}
		}
	}
}
