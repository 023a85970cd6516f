package store

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
)

// A logged batch that fails without a clear answer (a timeout, a lost
// connection: the coordinator may have died half way) is not finished
// with. Cassandra first writes it to the batchlog of two other nodes and
// only then applies it, and a node holding it replays it some seconds
// later — or, if that node is down, once it is back. Applying the same
// writes again before that is settled applies a list append twice: its
// cell names are made anew each time (docs: cassandra-facts), so the
// replay and the second apply both stay.
//
// So after such a failure the store waits until the batch is settled, and
// only then reads its progress again and applies what is missing. It asks
// every node that may hold the batch (not its coordinator, which sends it
// to two others when the ring has them) for its batchlog; the batch is
// settled once none of those that answer holds a batch as old as the
// failure, and either the store's progress shows the batch landed (a copy
// a node that is down replays later writes the same cells again), or every
// one of them answered, or the batch can no longer be replayed: Cassandra
// drops a batch older than the smallest gc_grace_seconds of its tables,
// and every batch of the store writes chorus_state, whose grace is
// batchGrace.

// batchGrace is the gc_grace_seconds of chorus_state and chorus_requests,
// and so the age past which Cassandra no longer replays a batch of the
// store. It bounds the wait for a node that is down; a node that is up
// replays a batch within about 15 s (twice write_request_timeout, then
// its 10 s replay round), far inside it.
const batchGrace = 60 * time.Second

// batchSkew allows for the clocks of the worker and the Cassandra nodes,
// which name batches by their own time.
const batchSkew = 2 * time.Second

// batchPoll is how often the batchlogs are asked again while unsettled.
const batchPoll = 500 * time.Millisecond

// batchNode is what one Cassandra node said about its batchlog.
type batchNode struct {
	addr        string
	reachable   bool
	oldest      time.Time // its oldest batch; zero when it holds none
	coordinator bool      // it ran the failed write
}

// batchSettled reports whether a batch that failed at failed can still be
// applied by a replay, from what the ring's nodes said at now and whether
// the store's progress shows it landed; if it can, why (for the error the
// apply loop logs).
func batchSettled(nodes []batchNode, failed, now time.Time, landed func() bool) (bool, string) {
	horizon := failed.Add(batchSkew)
	if now.Before(horizon) {
		return false, "waiting out the clock allowance of " + batchSkew.String()
	}
	expired := !now.Before(failed.Add(batchGrace + batchSkew))
	if len(nodes) == 0 && !expired {
		return false, "no Cassandra node answered"
	}
	// A coordinator puts the batch on two other nodes when it has them.
	skipCoordinator := len(nodes) >= 3
	var unreachable string
	for _, n := range nodes {
		switch {
		case n.coordinator && skipCoordinator:
		case !n.reachable:
			unreachable = n.addr
		case !n.oldest.IsZero() && !n.oldest.After(horizon):
			return false, fmt.Sprintf("node %s still holds a batch from %s in its batchlog", n.addr, n.oldest.UTC().Format(time.RFC3339Nano))
		}
	}
	if unreachable != "" && !expired && !landed() {
		return false, fmt.Sprintf("node %s is unreachable and may hold the batch in its batchlog (replayable for %s)", unreachable, batchGrace)
	}
	return true, ""
}

// batchlogs asks each node of the ring for the oldest batch it holds.
// system.batches is local to each node, so every node is asked on its
// own connection.
type batchlogs struct {
	base     gocql.ClusterConfig // the store's settings (credentials, TLS)
	seeds    []string
	sessions map[string]*gocql.Session
}

func newBatchlogs(base *gocql.ClusterConfig, seeds []string) *batchlogs {
	return &batchlogs{base: *base, seeds: seeds, sessions: map[string]*gocql.Session{}}
}

// session connects to node addr alone; nil if it cannot be reached.
// A session whose query failed is dropped (forget), so that a node that
// comes back is asked on a new connection at once: a session to one node
// that went down reconnects only every ReconnectInterval (a minute), and
// until then would make a node that is up look unreachable.
func (b *batchlogs) session(addr string) *gocql.Session {
	if s := b.sessions[addr]; s != nil && !s.Closed() {
		return s
	}
	cc := b.base
	cc.Hosts = []string{addr}
	cc.Keyspace = ""
	cc.Consistency = gocql.One
	cc.NumConns = 1
	cc.DisableInitialHostLookup = true
	// The ring's events are of no use to a session of one node, and they
	// break it: once another node came back up, every query of such a
	// session failed with "no hosts available in the pool" (gocql 1.7,
	// seen against Cassandra 5.0), though its own node never went away.
	cc.Events.DisableNodeStatusEvents = true
	cc.Events.DisableTopologyEvents = true
	cc.Events.DisableSchemaEvents = true
	cc.Logger = quietLogger{} // a node that is down is expected here, and reported
	cc.ConnectTimeout = min(cc.ConnectTimeout, time.Second)
	cc.Timeout = min(cc.Timeout, 2*time.Second)
	ips := hostIPs(addr)
	cc.HostFilter = gocql.HostFilterFunc(func(h *gocql.HostInfo) bool {
		for _, ip := range ips {
			if h.ConnectAddress().Equal(ip) {
				return true
			}
		}
		return false
	})
	s, err := cc.CreateSession()
	if err != nil {
		return nil
	}
	b.sessions[addr] = s
	return s
}

// forget closes the session to addr after a query on it failed, unless
// the failure is ctx's (an Apply call's deadline says nothing of the node).
func (b *batchlogs) forget(ctx context.Context, addr string) {
	if ctx.Err() != nil {
		return
	}
	if s := b.sessions[addr]; s != nil {
		s.Close()
		delete(b.sessions, addr)
	}
}

type quietLogger struct{}

func (quietLogger) Print(...any)          {}
func (quietLogger) Printf(string, ...any) {}
func (quietLogger) Println(...any)        {}

// hostIPs are the addresses of addr (host or host:port).
func hostIPs(addr string) []net.IP {
	host := addr
	if hp, _, err := net.SplitHostPort(addr); err == nil {
		host = hp
	}
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	ips, _ := net.LookupIP(host)
	return ips
}

// ring lists the nodes: the seeds, and every peer a reachable seed knows
// (system.peers_v2 keeps nodes that are down).
func (b *batchlogs) ring(ctx context.Context) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, s := range b.seeds {
		add(s)
	}
	for _, s := range b.seeds {
		sess := b.session(s)
		if sess == nil {
			continue
		}
		iter := sess.Query(`SELECT native_address, native_port FROM system.peers_v2`).WithContext(ctx).Iter()
		var ip net.IP
		var port int
		for iter.Scan(&ip, &port) {
			if ip != nil {
				add(net.JoinHostPort(ip.String(), strconv.Itoa(port)))
			}
		}
		if iter.Close() == nil {
			break
		}
		b.forget(ctx, s)
	}
	return out
}

// look asks every node of the ring for its oldest batch; coordinator is
// the address of the node that ran the failed write (nil: unknown).
func (b *batchlogs) look(ctx context.Context, coordinator net.IP) []batchNode {
	var out []batchNode
	for _, addr := range b.ring(ctx) {
		n := batchNode{addr: addr}
		for _, ip := range hostIPs(addr) {
			n.coordinator = n.coordinator || (coordinator != nil && ip.Equal(coordinator))
		}
		if sess := b.session(addr); sess != nil {
			iter := sess.Query(`SELECT id FROM system.batches`).WithContext(ctx).Iter()
			var id gocql.UUID
			for iter.Scan(&id) {
				if t := id.Time(); n.oldest.IsZero() || t.Before(n.oldest) {
					n.oldest = t
				}
			}
			n.reachable = iter.Close() == nil
			if !n.reachable {
				b.forget(ctx, addr)
			}
		}
		out = append(out, n)
	}
	return out
}

func (b *batchlogs) close() {
	for _, s := range b.sessions {
		s.Close()
	}
}

// awaitSettled waits until a batch that failed at failed, run by node
// coordinator, can no longer be replayed, or ctx ends (an ErrUnavailable
// saying what it waits for: the apply loop calls again and the wait goes
// on). landed reads whether the store's progress shows the batch applied.
func (b *batchlogs) awaitSettled(ctx context.Context, failed time.Time, coordinator net.IP, landed func(context.Context) (bool, error)) error {
	why := "no look at the batchlogs finished"
	unsettled := func() error {
		return fmt.Errorf("%w: a write to Cassandra failed at %s without an answer and Cassandra may still apply it from its batchlog; it is applied again only once that is settled: %s",
			ErrUnavailable, failed.UTC().Format(time.RFC3339Nano), why)
	}
	for {
		nodes := b.look(ctx, coordinator)
		if ctx.Err() != nil {
			// A look cut short by the deadline sees live nodes as
			// unreachable: the last whole look says what is awaited.
			return unsettled()
		}
		ok, reason := batchSettled(nodes, failed, time.Now(), func() bool {
			in, err := landed(ctx)
			return err == nil && in
		})
		if ok {
			return nil
		}
		why = reason
		t := time.NewTimer(batchPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return unsettled()
		case <-t.C:
		}
	}
}

// writeObserver remembers the node that ran the store's last failed write.
type writeObserver struct{ host *atomic.Pointer[net.IP] }

func (w writeObserver) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	if b.Err != nil && b.Host != nil {
		ip := b.Host.ConnectAddress()
		w.host.Store(&ip)
	}
}

func (w writeObserver) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	if q.Err != nil && q.Host != nil {
		ip := q.Host.ConnectAddress()
		w.host.Store(&ip)
	}
}

// coordinator is the node that ran the last failed write, nil if none.
func (c *Cassandra) coordinator() net.IP {
	if p := c.failedOn.Load(); p != nil {
		return *p
	}
	return nil
}
