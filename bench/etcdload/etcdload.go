// Package etcdload drives the benchmark's load into etcd: the peer the
// ordering layer (CHORUS_NOOP_STORE) is measured against in issue 12. Each
// operation is one Put of the workload's statement text, so etcd orders and
// fsyncs the same bytes a Chorus leader appends to its log. It lives apart
// from package bench so that the chorus CLI does not link etcd's client.
package etcdload

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// KeyPrefix is the prefix of every key the load writes.
const KeyPrefix = "chorus-bench/"

// Puts executes each statement as a Put to one of Keys keys in turn.
type Puts struct {
	Client *clientv3.Client
	Keys   int
	next   atomic.Int64
}

// Exec implements bench.Executor.
func (p *Puts) Exec(ctx context.Context, stmt string) error {
	k := p.next.Add(1) % int64(max(p.Keys, 1))
	_, err := p.Client.Put(ctx, KeyPrefix+strconv.FormatInt(k, 10), stmt)
	return err
}

// Connect opens a client balancing over endpoints (host:port, comma-free),
// as a client of a 3-member cluster would, and checks with one Put within
// timeout that the cluster has a leader and accepts writes.
func Connect(ctx context.Context, endpoints []string, timeout time.Duration) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: timeout,
		Logger: zap.NewNop(), // its warnings would interleave with the progress lines
	})
	if err != nil {
		return nil, fmt.Errorf("etcdload: connecting to etcd at %v: %w", endpoints, err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Put(pctx, KeyPrefix+"ready", "1"); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcdload: etcd at %v accepts no write (is a leader elected?): %w", endpoints, err)
	}
	return c, nil
}
