package worker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// TestDescribeIsAnsweredByTheReceivingWorker: DESCRIBE is answered by the
// worker that receives it, as a read reply, and never ordered; what it may
// not name is refused like a SELECT. (A Memory store runs no CQL, so it
// holds no tables; integration tests describe real ones.)
func TestDescribeIsAnsweredByTheReceivingWorker(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 2)
	subject := c.prefix + ".request"
	before, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids() {
		r, err := c.request(subject+"."+id, []byte("DESCRIBE TABLES;"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != messages.StatusSuccess || r.Server != id || string(r.Rows) != "[]" || !slices.Equal(r.Columns, []string{"name"}) {
			t.Fatalf("DESCRIBE TABLES on %s: %+v, want an empty list of names from %s", id, r, id)
		}
	}
	rejected := []struct {
		body string
		code messages.Code
		says string
	}{
		{"DESCRIBE TABLE nope", messages.CodeCQL, "no table nope; DESCRIBE TABLES lists the tables"},
		{"DESC TABLE chorus_state", messages.CodeIsolation, "chorus_state"},
		{"DESCRIBE TABLE system_schema.tables", messages.CodeIsolation, "system keyspaces"},
		{"DESCRIBE TABLE server1.t", messages.CodeIsolation, "keyspace"},
		{"DESCRIBE KEYSPACE server0", messages.CodeBadRequest, "DESCRIBE TABLES"},
	}
	for _, tc := range rejected {
		r, err := c.request(subject+".server0", []byte(tc.body), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != messages.StatusError || r.Code != tc.code.String() || !strings.Contains(r.Error, tc.says) || r.Server != "server0" {
			t.Errorf("%s: reply %+v, want %s from server0 mentioning %q", tc.body, r, tc.code, tc.says)
		}
	}
	after, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	if after.LastSeq != before.LastSeq {
		t.Fatalf("DESCRIBE was ordered: the log went from seq %d to %d", before.LastSeq, after.LastSeq)
	}
}
