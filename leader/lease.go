package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/jsassets"
	"github.com/chorusdb/chorus/messages"
)

// leaseKey is the one key of the lease bucket.
const leaseKey = "leader"

// Errors of the lease and of the KV it is kept in.
var (
	// ErrLeaseLost is returned by Renew when another worker holds the lease.
	ErrLeaseLost = errors.New("leader: lease lost")
	// ErrKeyExists: Create found the key present.
	ErrKeyExists = errors.New("leader: lease key exists")
	// ErrKeyNotFound: the key is absent (never written, deleted, or expired).
	ErrKeyNotFound = errors.New("leader: lease key not found")
	// ErrConflict: a write with an expected revision found another one.
	ErrConflict = errors.New("leader: lease key at another revision")
)

// KV is the lease bucket as the lease uses it: compare-and-set on one key
// with revisions that never repeat. Errors are ErrKeyExists, ErrKeyNotFound,
// ErrConflict, or anything else for a transient failure (the TTL decides).
// jetstreamKV adapts a JetStream key-value bucket; the simulation has its own.
type KV interface {
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	Delete(ctx context.Context, key string, rev uint64) error
}

// LogTail reads the last entry of the ORDER log.
type LogTail interface {
	Tail(ctx context.Context) (Tail, error)
}

// Tail is the last ORDER of the log: its seq, epoch and last write
// timestamp (zero for an empty log); with the log's first seq and the
// newest complete snapshot's seq.
type Tail struct {
	LastSeq, Epoch uint64
	LastTS         int64
	FirstSeq       uint64
	SnapshotSeq    uint64
}

// Lease is the leader role: a key in a KV bucket whose TTL removes it
// unless the holder renews it. The bucket is the only coordination point
// between candidates; the log's expected-sequence check is what fences a
// deposed leader that still believes it holds the lease.
type Lease struct {
	kv    KV
	token []byte // identifies this process's hold (ID plus a random part)
	rev   uint64
	held  bool
}

// NewLease is a lease kept in kv under this process's token.
func NewLease(kv KV, token string) *Lease { return &Lease{kv: kv, token: []byte(token)} }

// OpenLease creates (or opens) the JetStream lease bucket with the given TTL.
func OpenLease(ctx context.Context, js jetstream.JetStream, bucket, id string, ttl time.Duration, replicas int, log *slog.Logger) (*Lease, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "Chorus leader lease", History: 1, TTL: ttl, Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1),
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		jsassets.Reconcile(ctx, js, "KV_"+bucket, max(replicas, 1), log)
		kv, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		err = jsassets.Explain(err, "lease bucket "+bucket, replicas)
		return nil, fmt.Errorf("opening lease bucket %s: %w", bucket, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	return NewLease(jetstreamKV{kv}, id+"/"+hex.EncodeToString(r[:])), nil
}

// Holder is the ID/token of the current holder, "" if none.
func (l *Lease) Holder(ctx context.Context) string {
	v, _, err := l.kv.Get(ctx, leaseKey)
	if err != nil {
		return ""
	}
	return string(v)
}

// Held reports whether this process believes it holds the lease.
func (l *Lease) Held() bool { return l.held }

// TryAcquire takes the lease if nobody holds it. It returns the revision of
// the acquisition (a number no earlier acquisition had) and whether it won.
func (l *Lease) TryAcquire(ctx context.Context) (uint64, bool, error) {
	rev, err := l.kv.Create(ctx, leaseKey, l.token)
	if errors.Is(err, ErrKeyExists) {
		v, cur, gerr := l.kv.Get(ctx, leaseKey)
		if gerr != nil || string(v) != string(l.token) {
			return 0, false, nil
		}
		// Still ours (we stepped down without losing it): renew it to get a
		// fresh revision for the new term.
		rev, err = l.kv.Update(ctx, leaseKey, l.token, cur)
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
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrKeyNotFound) {
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
		_ = l.kv.Delete(ctx, leaseKey, l.rev)
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

// Do carries out one campaign operation the Core asked for and returns
// its result for Core.LeaseDone. It blocks: run it off the Core's
// goroutine.
func (l *Lease) Do(ctx context.Context, op LeaseOp, log LogTail) LeaseResult {
	res := LeaseResult{Op: op.Op}
	switch op.Op {
	case OpAcquire:
		res.Rev, res.Won, res.Err = l.TryAcquire(ctx)
	case OpRenew:
		res.Err = l.Renew(ctx)
		res.Rev = l.rev
	case OpReadTail:
		res.Tail, res.Err = log.Tail(ctx)
	case OpAdvance:
		res.Rev, res.Err = l.AdvancePast(ctx, op.Past)
	case OpRelease:
		l.Release(ctx)
	}
	if res.Err != nil && errors.Is(res.Err, ErrLeaseLost) {
		res.Lost = true
	}
	return res
}

// jetstreamKV is KV on a JetStream key-value bucket.
type jetstreamKV struct{ kv jetstream.KeyValue }

func (j jetstreamKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := j.kv.Create(ctx, key, value)
	return rev, kvError(err)
}

func (j jetstreamKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := j.kv.Get(ctx, key)
	if err != nil {
		return nil, 0, kvError(err)
	}
	return e.Value(), e.Revision(), nil
}

func (j jetstreamKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	rev, err := j.kv.Update(ctx, key, value, rev)
	return rev, kvError(err)
}

func (j jetstreamKV) Delete(ctx context.Context, key string, rev uint64) error {
	return kvError(j.kv.Delete(ctx, key, jetstream.LastRevision(rev)))
}

// kvError maps JetStream's errors onto KV's: a server's refusal of an
// expected revision is a conflict; a timeout or a lost connection is
// transient.
func kvError(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("%w: %v", ErrKeyExists, err)
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w: %v", ErrKeyNotFound, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// streamTail is LogTail on the JetStream ORDER stream and the snapshot
// bucket.
type streamTail struct {
	stream    jetstream.Stream
	snapshots Snapshots
}

// Snapshots tells the newest complete snapshot's seq (0 if none).
type Snapshots interface {
	LatestSeq(ctx context.Context) (uint64, error)
}

func (s streamTail) Tail(ctx context.Context) (Tail, error) {
	si, err := s.stream.Info(ctx)
	if err != nil {
		return Tail{}, err
	}
	t := Tail{LastSeq: si.State.LastSeq, FirstSeq: si.State.FirstSeq}
	if s.snapshots != nil {
		if t.SnapshotSeq, err = s.snapshots.LatestSeq(ctx); err != nil {
			return Tail{}, err
		}
	}
	if t.LastSeq == 0 {
		return t, nil
	}
	raw, err := s.stream.GetMsg(ctx, t.LastSeq)
	if err != nil {
		return Tail{}, err
	}
	var o messages.Order
	if messages.Decode(raw.Data, &o) == nil {
		t.Epoch, t.LastTS = o.Epoch, o.LastTimestamp()
	}
	return t, nil
}
