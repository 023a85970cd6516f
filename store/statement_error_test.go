package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// TestStatementErrorSameOnEveryReplica: a statement error names the
// replica's keyspace in some messages; every replica must report the same
// text, so the keyspace is taken out wherever it is a whole name, and
// names that merely contain it (a table "server1_log") are left alone.
func TestStatementErrorSameOnEveryReplica(t *testing.T) {
	keyspaces := []string{"server1", "server2", "server10"}
	for _, tc := range []struct {
		name string
		msg  string // Cassandra's message; {ks} stands for the keyspace
		want string
	}{
		{"qualified table", "Undefined column name x in table {ks}.grade", "Undefined column name x in table grade"},
		{"quoted keyspace", `Cannot add already existing table "grade" to keyspace "{ks}"`, `Cannot add already existing table "grade" to keyspace "<keyspace>"`},
		{"no keyspace", "unconfigured table grade", "unconfigured table grade"},
		{"table named after a keyspace", "Undefined column name x in table {ks}.server1_log", "Undefined column name x in table server1_log"},
		{"table named like a keyspace", "Undefined column name x in table {ks}.server1", "Undefined column name x in table server1"},
		{"quoted table", `Undefined column name x in table {ks}."Grade"`, `Undefined column name x in table "Grade"`},
		{"keyspace at both ends", "{ks}.t and {ks}", "t and <keyspace>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ks := range keyspaces {
				c := &Cassandra{keyspace: ks}
				code, msg, err := c.statementError(reqErr{gocql.ErrCodeInvalid, strings.ReplaceAll(tc.msg, "{ks}", ks)})
				if err != nil || code != messages.CodeCQL || msg != tc.want {
					t.Errorf("keyspace %s: statementError = %s, %q, %v; want CQL, %q", ks, code, msg, err, tc.want)
				}
			}
		})
	}
}

func TestStatementErrorUnavailable(t *testing.T) {
	c := &Cassandra{keyspace: "server1"}
	for _, cause := range []error{reqErr{gocql.ErrCodeWriteTimeout, "Operation timed out"}, gocql.ErrTimeoutNoResponse} {
		code, msg, err := c.statementError(cause)
		if !errors.Is(err, ErrUnavailable) || code != 0 || msg != "" {
			t.Errorf("statementError(%v) = %s, %q, %v; want a storage failure wrapping ErrUnavailable, no outcome", cause, code, msg, err)
		}
	}
}
