package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/store"
)

// TestCassandraBatchlogsAreAsked: the store reaches every node of the ring
// on its own connection and reads its batchlog; a node that does not
// answer is reported unreachable (so a write's fate waits for it), not
// left out.
func TestCassandraBatchlogsAreAsked(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes := store.LookAtBatchlogs(ctx, hosts)
	if len(nodes) < len(hosts) {
		t.Fatalf("asked %d nodes, fewer than the %d seeds: %+v", len(nodes), len(hosts), nodes)
	}
	for _, n := range nodes {
		if !n.Reachable {
			t.Fatalf("node %s of a running ring reported unreachable: %+v", n.Addr, nodes)
		}
		if !n.Oldest.IsZero() && time.Since(n.Oldest) > time.Hour {
			t.Fatalf("node %s holds a batch from %s: an idle ring replays its batches within seconds", n.Addr, n.Oldest)
		}
	}
	dead := store.LookAtBatchlogs(ctx, append(hosts, "127.0.0.1:1"))
	last := dead[len(dead)-1]
	if last.Addr != "127.0.0.1:1" || last.Reachable {
		t.Fatalf("a seed with nothing listening: %+v, want it listed and unreachable", dead)
	}
}
