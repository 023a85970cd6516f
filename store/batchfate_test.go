package store

import (
	"strings"
	"testing"
	"time"
)

func TestBatchSettled(t *testing.T) {
	failed := time.Unix(1000, 0)
	after := func(d time.Duration) time.Time { return failed.Add(d) }
	up := func(addr string) batchNode { return batchNode{addr: addr, reachable: true} }
	holding := func(addr string, at time.Time) batchNode { return batchNode{addr: addr, reachable: true, oldest: at} }
	down := func(addr string) batchNode { return batchNode{addr: addr} }
	for _, tc := range []struct {
		name  string
		nodes []batchNode
		now   time.Time
		want  bool
		why   string // part of the reason when unsettled
	}{
		{"every node empty, past the clock allowance", []batchNode{up("a"), up("b"), up("c")}, after(batchSkew), true, ""},
		{"within the clock allowance a batch may not be visible yet", []batchNode{up("a")}, after(batchSkew - time.Millisecond), false, "clock allowance"},
		{"a node holds a batch from before the failure", []batchNode{up("a"), holding("b", after(-3*time.Second)), up("c")}, after(5 * time.Second), false, "node b still holds"},
		{"a batch from within the clock allowance may be ours", []batchNode{holding("a", after(batchSkew))}, after(5 * time.Second), false, "node a"},
		{"only batches made after the failure (and the allowance)", []batchNode{holding("a", after(batchSkew+time.Millisecond))}, after(5 * time.Second), true, ""},
		{"a node down may hold the batch", []batchNode{up("a"), down("b"), up("c")}, after(10 * time.Second), false, "node b is unreachable"},
		{"a node down past the grace can no longer replay it", []batchNode{up("a"), down("b"), up("c")}, after(batchGrace + batchSkew), true, ""},
		{"a node up keeps an old batch past the grace: it is dropped at its next round, wait", []batchNode{holding("a", after(-time.Second))}, after(batchGrace + batchSkew), false, "node a still holds"},
		{"no node answered", nil, after(10 * time.Second), false, "no Cassandra node"},
		{"no node answered, past the grace", nil, after(batchGrace + batchSkew), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := batchSettled(tc.nodes, failed, tc.now)
			if got != tc.want {
				t.Fatalf("settled = %v (%q), want %v", got, why, tc.want)
			}
			if !strings.Contains(why, tc.why) {
				t.Fatalf("reason %q does not say %q", why, tc.why)
			}
		})
	}
}
