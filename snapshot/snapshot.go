// Package snapshot keeps a cluster's snapshots in a JetStream object store:
// one object per snapshot, named by its log seq, its manifest in the
// object's metadata. The object store writes an object's metadata only
// after all its chunks, and purges the chunks of a put that fails, so a
// manifest that can be listed belongs to a whole snapshot; the SHA-256
// digest it records is checked again when the snapshot is read.
package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/jsassets"
	"github.com/chorusdb/chorus/messages"
)

// Errors of the package.
var (
	// ErrNone: the bucket holds no complete snapshot.
	ErrNone = errors.New("snapshot: no complete snapshot")
	// ErrCorrupt: a snapshot's data does not match its digest.
	ErrCorrupt = errors.New("snapshot: data does not match its digest")
)

// Manifest describes one complete snapshot.
type Manifest struct {
	Seq   uint64 `json:"seq"`   // the log seq the snapshot is the state at
	Epoch uint64 `json:"epoch"` // the highest epoch applied at Seq
	// Timestamp is the write timestamp of the ORDER at Seq: above every
	// write before it, below every write after.
	Timestamp int64     `json:"timestamp"`
	By        string    `json:"by"`     // the worker that took it
	At        time.Time `json:"at"`     // when it was taken
	Format    int       `json:"format"` // of the data (store.SnapshotFormat)
	Rows      int64     `json:"rows"`
	// Members are the cluster's members at Seq (the log's membership
	// ORDERs before Seq may be trimmed).
	Members []messages.Member `json:"members"`
	// Filled in by the store:
	Bytes  int64  `json:"bytes"`
	Digest string `json:"digest"`
}

const (
	metaKey    = "chorus-manifest"
	namePrefix = "seq-"
)

// Name is the object name of the snapshot at seq: sorting names sorts seqs.
func Name(seq uint64) string { return fmt.Sprintf("%s%020d", namePrefix, seq) }

// Store is the snapshot bucket of one cluster.
type Store struct {
	os   jetstream.ObjectStore
	keep int
}

// Open creates (or opens) the bucket; Put keeps the newest keep snapshots.
func Open(ctx context.Context, js jetstream.JetStream, bucket string, replicas, keep int, log *slog.Logger) (*Store, error) {
	os, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: bucket, Description: "Chorus snapshots: one keyspace state per object, named by its log seq",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		jsassets.Reconcile(ctx, js, "OBJ_"+bucket, max(replicas, 1), log)
		os, err = js.ObjectStore(ctx, bucket)
	}
	if err != nil {
		err = jsassets.Explain(err, "snapshot bucket "+bucket, replicas)
		return nil, fmt.Errorf("opening snapshot bucket %s: %w", bucket, err)
	}
	return &Store{os: os, keep: max(keep, 1)}, nil
}

// Put stores the snapshot read from r under manifest m and returns m with
// its size and digest. Then it deletes all but the newest snapshots. A
// Put that fails leaves nothing that List returns.
func (s *Store) Put(ctx context.Context, m Manifest, r io.Reader) (Manifest, error) {
	meta, err := json.Marshal(m)
	if err != nil {
		return m, err
	}
	info, err := s.os.Put(ctx, jetstream.ObjectMeta{
		Name:        Name(m.Seq),
		Description: fmt.Sprintf("keyspace of %s at seq %d", m.By, m.Seq),
		Metadata:    map[string]string{metaKey: string(meta)},
	}, r)
	if err != nil {
		return m, fmt.Errorf("storing snapshot at seq %d: %w", m.Seq, err)
	}
	m.Bytes, m.Digest = int64(info.Size), info.Digest
	return m, s.prune(ctx)
}

// List returns the complete snapshots, oldest first.
func (s *Store) List(ctx context.Context) ([]Manifest, error) {
	infos, err := s.os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	var out []Manifest
	for _, info := range infos {
		if m, ok := manifest(info); ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

func manifest(info *jetstream.ObjectInfo) (Manifest, bool) {
	var m Manifest
	if info.Deleted || !strings.HasPrefix(info.Name, namePrefix) || json.Unmarshal([]byte(info.Metadata[metaKey]), &m) != nil {
		return m, false
	}
	m.Bytes, m.Digest = int64(info.Size), info.Digest
	return m, true
}

// Latest is the newest complete snapshot; ErrNone if there is none.
func (s *Store) Latest(ctx context.Context) (Manifest, error) {
	all, err := s.List(ctx)
	if err != nil {
		return Manifest{}, err
	}
	if len(all) == 0 {
		return Manifest{}, ErrNone
	}
	return all[len(all)-1], nil
}

// Read opens the data of snapshot m. Reading it to the end checks its
// digest: a mismatch is ErrCorrupt, so a damaged snapshot is never taken
// for a whole one. The read may take as long as ctx allows: a restore
// writes each record before it reads on, for minutes on a big snapshot.
func (s *Store) Read(ctx context.Context, m Manifest) (io.ReadCloser, error) {
	// Without a deadline, the object store gives the whole read JetStream's
	// default API timeout (5s), and a restore slower than that fails with
	// nats: timeout. A deadline far off keeps the read going; Close ends it.
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, maxRead)
	}
	res, err := s.os.Get(ctx, Name(m.Seq))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("reading snapshot at seq %d: %w", m.Seq, err)
	}
	return digestChecked{res, cancel}, nil
}

// maxRead bounds a snapshot read whose context has no deadline.
const maxRead = 24 * time.Hour

type digestChecked struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (d digestChecked) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		err = fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return n, err
}

func (d digestChecked) Close() error {
	err := d.ReadCloser.Close()
	d.cancel()
	return err
}

// prune deletes all but the newest keep snapshots.
func (s *Store) prune(ctx context.Context) error {
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	for len(all) > s.keep {
		if err := s.os.Delete(ctx, Name(all[0].Seq)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("deleting snapshot at seq %d: %w", all[0].Seq, err)
		}
		all = all[1:]
	}
	return nil
}
