package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseKey is the one key of the lease bucket.
const leaseKey = "leader"

// ErrLeaseLost is returned by Renew when another worker holds the lease.
var ErrLeaseLost = errors.New("leader: lease lost")

// Lease is the leader role: a JetStream KV key whose bucket TTL removes it
// unless the holder renews it. The bucket is the only coordination point
// between candidates; the log's expected-sequence check is what fences a
// deposed leader that still believes it holds the lease.
type Lease struct {
	kv    jetstream.KeyValue
	token []byte // identifies this process's hold (ID plus a random part)
	rev   uint64
	held  bool
}

// OpenLease creates (or opens) the lease bucket with the given TTL.
func OpenLease(ctx context.Context, js jetstream.JetStream, bucket, id string, ttl time.Duration) (*Lease, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "Chorus leader lease", History: 1, TTL: ttl, Storage: jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("opening lease bucket %s: %w", bucket, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	return &Lease{kv: kv, token: []byte(id + "/" + hex.EncodeToString(r[:]))}, nil
}

// Holder is the ID/token of the current holder, "" if none.
func (l *Lease) Holder(ctx context.Context) string {
	e, err := l.kv.Get(ctx, leaseKey)
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// TryAcquire takes the lease if nobody holds it. It returns the revision of
// the acquisition (a number no earlier acquisition had) and whether it won.
func (l *Lease) TryAcquire(ctx context.Context) (uint64, bool, error) {
	rev, err := l.kv.Create(ctx, leaseKey, l.token)
	if errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := l.kv.Get(ctx, leaseKey)
		if gerr != nil || string(e.Value()) != string(l.token) {
			return 0, false, nil
		}
		// Still ours (we stepped down without losing it): renew it to get a
		// fresh revision for the new term.
		rev, err = l.kv.Update(ctx, leaseKey, l.token, e.Revision())
		if err != nil {
			return 0, false, nil
		}
	} else if err != nil {
		return 0, false, err
	}
	l.rev, l.held = rev, true
	return rev, true, nil
}

// Renew extends the lease; ErrLeaseLost if someone else took it.
func (l *Lease) Renew(ctx context.Context) error {
	rev, err := l.kv.Update(ctx, leaseKey, l.token, l.rev)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrKeyNotFound) {
			l.held = false
			return fmt.Errorf("%w: %v", ErrLeaseLost, err)
		}
		return err // transient: NATS unreachable; the TTL decides
	}
	l.rev = rev
	return nil
}

// Release gives the lease up at once, so a successor need not wait for the
// TTL (clean shutdown, or stepping down).
func (l *Lease) Release(ctx context.Context) {
	if l.held {
		_ = l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
		l.held = false
	}
}

// AdvancePast renews the held lease until its revision exceeds epoch and
// returns that revision.
func (l *Lease) AdvancePast(ctx context.Context, epoch uint64) (uint64, error) {
	for l.rev <= epoch {
		if err := l.Renew(ctx); err != nil {
			return 0, err
		}
	}
	return l.rev, nil
}
