package store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
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
	i := slices.IndexFunc(dead, func(n store.BatchlogNode) bool { return n.Addr == "127.0.0.1:1" })
	if i < 0 || dead[i].Reachable {
		t.Fatalf("a seed with nothing listening: %+v, want it listed and unreachable", dead)
	}
	// No seed answers: the nodes none has listed may hold the batch, so
	// they stand in the look as one more node, unreachable.
	alone := store.LookAtBatchlogs(ctx, []string{"127.0.0.1:1"})
	if len(alone) != 2 || alone[0].Reachable || alone[1].Reachable || alone[1].Addr == "127.0.0.1:1" {
		t.Fatalf("a ring whose only seed is down: %+v, want the seed and the unlisted nodes, unreachable", alone)
	}
}

// TestCassandraBatchlogsSeeANodeBackAtOnce: a node that went away and
// came back is asked again on a new connection at the next look. A
// session to one node that went down reconnects only every minute, so
// kept, it would show a node that is back as unreachable, and a write's
// fate would wait for it for a minute (the stall of the node-kill test).
// The node here is a TCP proxy in front of Cassandra, cut for 5 s (gocql
// gives up reconnecting after 3 tries a second apart) and restored.
func TestCassandraBatchlogsSeeANodeBackAtOnce(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProxy(t, hosts[0])
	w := store.NewBatchlogWatch([]string{p.addr})
	defer w.Close()
	reachable := func() bool { // the proxy's node; the ring's others may be listed too
		for _, n := range w.Look(ctx) {
			if n.Addr == p.addr {
				return n.Reachable
			}
		}
		t.Fatalf("node %s not looked at", p.addr)
		return false
	}
	if !reachable() {
		t.Fatalf("node %s (a proxy to %s) unreachable before it went away", p.addr, hosts[0])
	}
	// The node stays away for a while, looked at as a store waiting on a
	// write's fate does, so the driver has tried to reconnect and given up.
	p.cut()
	for away := time.Now(); time.Since(away) < 5*time.Second; {
		if reachable() {
			t.Fatal("node reachable while its proxy is cut")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond): // the pace of looks, as batchPoll
		}
	}
	p.restore(t)
	back := time.Now()
	chorustest.Eventually(t, 15*time.Second, func() error {
		if !reachable() {
			return fmt.Errorf("node %s still unreachable %s after it came back", p.addr, time.Since(back).Round(time.Millisecond))
		}
		return nil
	})
}

// proxy forwards TCP connections on addr to a target; cut closes the
// listener and every connection (the node is gone), restore listens on
// addr again.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listening on %s again: %v", p.addr, err)
	}
	p.serve(ln)
}
