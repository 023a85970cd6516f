package worker_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// historyHas reports whether a read of the Memory store's history lists
// request id.
func historyHas(t *testing.T, r messages.Reply, id string) bool {
	t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal(r.Rows, &rows); err != nil {
		t.Fatalf("rows %s: %v", r.Rows, err)
	}
	for _, row := range rows {
		if row["request_id"] == id {
			return true
		}
	}
	return false
}

// TestReadLevels: a write acknowledged at consistency one (the leader's
// replica only) is seen at once by a linearizable read on a follower, by a
// min_seq read given its seq, and by a bounded read whose bound has passed;
// each read says the seq it reflects.
// A min_seq beyond the log answers UNAVAILABLE after CHORUS_READ_TIMEOUT,
// naming what it waited for.
func TestReadLevels(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	leader := c.waitLeader(3)
	follower := c.follower(leader)
	read := func(level string) messages.Reply {
		t.Helper()
		r, err := c.request(c.prefix+".request."+follower, []byte("SELECT * FROM t"), 10*time.Second, messages.HeaderConsistency, level)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 20 {
		w := c.write(c.prefix+".request."+leader, "UPDATE t SET a = a + [1] WHERE k = 1", messages.HeaderConsistency, "one")
		// bounded:1ns is never fresh enough: it takes the linearizable path.
		level := [...]string{"linearizable", "min_seq:" + strconv.FormatUint(w.Seq, 10), "bounded:1ns"}[i%3]
		r := read(level)
		if r.Status != messages.StatusSuccess || r.Seq < w.Seq || !historyHas(t, r, w.RequestID) {
			t.Fatalf("%s read on %s after the write at seq %d: %+v", level, follower, w.Seq, r)
		}
	}
	for _, level := range []string{"", "local", "bounded:1h"} { // answered locally
		if r := read(level); r.Status != messages.StatusSuccess || r.Seq == 0 {
			t.Fatalf("%q read: %+v, want SUCCESS with the seq it reflects", level, r)
		}
	}
	start := time.Now()
	r := read("min_seq:1000000")
	if r.Status != messages.StatusError || r.Code != messages.CodeUnavailable.String() || !strings.Contains(r.Error, "min_seq 1000000") {
		t.Fatalf("min_seq beyond the log: %+v, want UNAVAILABLE naming it", r)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("answered UNAVAILABLE after %s, before CHORUS_READ_TIMEOUT (3s)", took)
	}
}
