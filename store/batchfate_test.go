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
	coordinator := func(n batchNode) batchNode { n.coordinator = true; return n }
	for _, tc := range []struct {
		name   string
		nodes  []batchNode
		now    time.Time
		landed bool // the store's progress shows the batch applied
		want   bool
		why    string // part of the reason when unsettled
	}{
		{"every node empty, past the clock allowance", []batchNode{up("a"), up("b"), up("c")}, after(batchSkew), false, true, ""},
		{"within the clock allowance a batch may not be visible yet", []batchNode{up("a")}, after(batchSkew - time.Millisecond), false, false, "clock allowance"},
		{"a node holds a batch from before the failure", []batchNode{up("a"), holding("b", after(-3*time.Second)), up("c")}, after(5 * time.Second), false, false, "node b still holds"},
		{"a batch from within the clock allowance may be ours", []batchNode{holding("a", after(batchSkew))}, after(5 * time.Second), false, false, "node a"},
		{"only batches made after the failure (and the allowance)", []batchNode{holding("a", after(batchSkew+time.Millisecond))}, after(5 * time.Second), false, true, ""},
		{"a node down may hold the batch", []batchNode{up("a"), down("b"), up("c")}, after(10 * time.Second), false, false, "node b is unreachable"},
		{"a node down past the grace can no longer replay it", []batchNode{up("a"), down("b"), up("c")}, after(batchGrace + batchSkew), false, true, ""},
		{"a node up keeps an old batch past the grace: it is dropped at its next round, wait", []batchNode{holding("a", after(-time.Second))}, after(batchGrace + batchSkew), false, false, "node a still holds"},
		{"a node down, but the batch landed: a later replay writes the same cells", []batchNode{up("a"), down("b"), up("c")}, after(10 * time.Second), true, true, ""},
		{"a node down, landed, but another still replays it: wait", []batchNode{holding("a", failed), down("b"), up("c")}, after(10 * time.Second), true, false, "node a still holds"},
		{"the coordinator down: it put the batch on the two others", []batchNode{up("a"), coordinator(down("b")), up("c")}, after(10 * time.Second), false, true, ""},
		{"the coordinator's own batchlog holds other writes' batches", []batchNode{up("a"), coordinator(holding("b", failed)), up("c")}, after(10 * time.Second), false, true, ""},
		{"a ring of two: the coordinator may keep the batch itself", []batchNode{up("a"), coordinator(down("b"))}, after(10 * time.Second), false, false, "node b is unreachable"},
		{"no node answered", nil, after(10 * time.Second), false, false, "no Cassandra node"},
		{"no node answered, past the grace", nil, after(batchGrace + batchSkew), false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := batchSettled(tc.nodes, failed, tc.now, func() bool { return tc.landed })
			if got != tc.want {
				t.Fatalf("settled = %v (%q), want %v", got, why, tc.want)
			}
			if !strings.Contains(why, tc.why) {
				t.Fatalf("reason %q does not say %q", why, tc.why)
			}
		})
	}
}
