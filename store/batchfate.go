package store

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
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
// own connection, all at once (a look lasts as long as the slowest node).
type batchlogs struct {
	base  gocql.ClusterConfig // the store's settings (credentials, TLS)
	seeds []string

	mu       sync.Mutex // the store's Close may come while an Apply waits here
	sessions map[string]*gocql.Session
	known    []string // the seeds and the nodes a seed listed last
	closed   bool
}

func newBatchlogs(base *gocql.ClusterConfig, seeds []string) *batchlogs {
	return &batchlogs{base: *base, seeds: seeds, sessions: map[string]*gocql.Session{}, known: slices.Clone(seeds)}
}

// session connects to node addr alone; nil if it cannot be reached.
// A session whose query failed is dropped (forget), so that a node that
// comes back is asked on a new connection at once: a session to one node
// that went down reconnects only every ReconnectInterval (a minute), and
// until then would make a node that is up look unreachable.
func (b *batchlogs) session(addr string) *gocql.Session {
	b.mu.Lock()
	if s := b.sessions[addr]; s != nil && !s.Closed() || b.closed {
		b.mu.Unlock()
		return s
	}
	b.mu.Unlock()
	cc := b.base
	cc.Hosts = []string{addr}
	cc.Keyspace = ""
	cc.Consistency = gocql.One
	cc.NumConns = 1
	cc.DisableInitialHostLookup = true
	// A one-node session breaks when it refreshes the ring: gocql adds its
	// node again under its real host id and then removes the old entry by
	// address, which empties the pool ("no hosts available in the pool"
	// on every query). Ring events make it refresh: a session with them
	// broke the moment another node came back up, one without stayed up.
	// A reconnect of its control connection refreshes too, and forget is
	// what mends that.
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
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.Close()
		return nil
	}
	if old := b.sessions[addr]; old != nil {
		old.Close()
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
	b.mu.Lock()
	defer b.mu.Unlock()
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

// ring lists the nodes: the seeds, and the peers a seed listed (system.peers_v2
// keeps nodes that are down); when no seed answers this time (listed
// false), the peers of the last listing.
func (b *batchlogs) ring(ctx context.Context) (nodes []string, listed bool) {
	for _, s := range b.seeds {
		if ctx.Err() != nil {
			break
		}
		sess := b.session(s)
		if sess == nil {
			continue
		}
		iter := sess.Query(`SELECT native_address, native_port FROM system.peers_v2`).WithContext(ctx).Iter()
		var found []string
		var ip net.IP
		var port int
		for iter.Scan(&ip, &port) {
			if ip != nil {
				found = append(found, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
			}
		}
		if iter.Close() == nil {
			listed = true
			known := slices.Clone(b.seeds)
			for _, a := range found {
				if !slices.Contains(known, a) {
					known = append(known, a)
				}
			}
			b.mu.Lock()
			b.known = known
			b.mu.Unlock()
			break
		}
		b.forget(ctx, s)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.known), listed
}

// unlisted stands for the nodes no seed has listed yet, when no seed
// answered: unreachable, so the wait goes on as for a node that is down.
const unlisted = "(nodes no seed has listed: none answered)"

// look asks every node of the ring for its oldest batch; coordinator is
// the address of the node that ran the failed write (nil: unknown).
func (b *batchlogs) look(ctx context.Context, coordinator net.IP) []batchNode {
	addrs, listed := b.ring(ctx)
	out := make([]batchNode, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = b.ask(ctx, addr, coordinator)
		}()
	}
	wg.Wait()
	if !listed {
		out = append(out, batchNode{addr: unlisted})
	}
	return out
}

// ask reads node addr's batchlog.
func (b *batchlogs) ask(ctx context.Context, addr string, coordinator net.IP) batchNode {
	n := batchNode{addr: addr}
	for _, ip := range hostIPs(addr) {
		n.coordinator = n.coordinator || (coordinator != nil && ip.Equal(coordinator))
	}
	if ctx.Err() != nil {
		return n
	}
	sess := b.session(addr)
	if sess == nil {
		return n
	}
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
	return n
}

func (b *batchlogs) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for addr, s := range b.sessions {
		s.Close()
		delete(b.sessions, addr)
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
