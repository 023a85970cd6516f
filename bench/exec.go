package bench

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// Chorus executes statements through a Chorus cluster with the Go client:
// an operation ends when the write's reply arrives (SUCCESS once every live
// replica applied it, with the default consistency).
type Chorus struct {
	Client *client.Client
	Opts   []client.Option // for every Exec, e.g. client.WithConsistency
}

// Exec implements Executor.
func (c Chorus) Exec(ctx context.Context, stmt string) error {
	_, err := c.Client.Exec(ctx, stmt, c.Opts...)
	return err
}

// Setup creates the workload's tables through the cluster, giving each
// statement up to timeout.
func (c Chorus) Setup(ctx context.Context, timeout time.Duration) error {
	for _, s := range SetupStatements {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := c.Client.Exec(sctx, s, c.Opts...)
		cancel()
		if err != nil {
			return fmt.Errorf("bench: setting up through Chorus (%s): %w", s, err)
		}
	}
	return nil
}

// LiveReplicas asks the leader how many replicas it waits for.
func LiveReplicas(ctx context.Context, c *client.Client) (int, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, w := range st.Workers {
		if w.Live {
			n++
		}
	}
	return n, nil
}

// Direct executes the same statements on Cassandra with gocql, in one
// keyspace: the ceiling of one replica. Each statement is sent as its literal
// text, like a Chorus replica sends it (gocql would PREPARE every distinct
// literal INSERT or UPDATE sent as a query, one more round trip each, so it
// goes as a batch of one statement, which gocql does not prepare).
type Direct struct {
	Session  *gocql.Session
	Keyspace string
}

// DirectOptions say where the baseline runs.
type DirectOptions struct {
	Hosts    []string
	Keyspace string
	Timeout  time.Duration // of one Cassandra request
}

var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// ValidKeyspace reports whether ks is a keyspace name the benchmark may use
// (and drop): a plain name, not a system keyspace.
func ValidKeyspace(ks string) error {
	if !keyspaceName.MatchString(ks) {
		return fmt.Errorf("%q is not a valid keyspace name (letters, digits and _, starting with a letter, at most 48)", ks)
	}
	if strings.HasPrefix(strings.ToLower(ks), "system") {
		return fmt.Errorf("%q is a system keyspace", ks)
	}
	return nil
}

func newCluster(hosts []string, timeout time.Duration) *gocql.ClusterConfig {
	cluster := gocql.NewCluster(hosts...)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cluster.Timeout = timeout
	cluster.ConnectTimeout = timeout
	cluster.Consistency = gocql.Quorum // as the replicas write (one node: the same as ONE)
	return cluster
}

// OpenDirect connects to Cassandra, creates the keyspace (replication
// factor 1, like a replica's) and the workload's tables if missing.
func OpenDirect(ctx context.Context, o DirectOptions) (*Direct, error) {
	if err := ValidKeyspace(o.Keyspace); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cluster := newCluster(o.Hosts, o.Timeout)
	sys, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("bench: connecting to Cassandra at %s: %w", strings.Join(o.Hosts, ","), err)
	}
	err = sys.Query(`CREATE KEYSPACE IF NOT EXISTS "` + o.Keyspace +
		`" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`).WithContext(ctx).Exec()
	sys.Close()
	if err != nil {
		return nil, fmt.Errorf("bench: creating keyspace %s: %w", o.Keyspace, err)
	}
	cluster.Keyspace = o.Keyspace
	s, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("bench: connecting to keyspace %s: %w", o.Keyspace, err)
	}
	for _, stmt := range SetupStatements {
		if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: %s in %s: %w", stmt, o.Keyspace, err)
		}
	}
	return &Direct{Session: s, Keyspace: o.Keyspace}, nil
}

// Exec implements Executor.
func (d *Direct) Exec(ctx context.Context, stmt string) error {
	b := d.Session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
	b.Query(stmt)
	return d.Session.ExecuteBatch(b)
}

// Close closes the session.
func (d *Direct) Close() { d.Session.Close() }

// DropKeyspaces drops the named keyspaces (missing ones are fine).
func DropKeyspaces(ctx context.Context, hosts []string, timeout time.Duration, keyspaces []string) error {
	for _, ks := range keyspaces {
		if err := ValidKeyspace(ks); err != nil {
			return fmt.Errorf("bench: not dropping: %w", err)
		}
	}
	if len(keyspaces) == 0 {
		return nil
	}
	s, err := newCluster(hosts, timeout).CreateSession()
	if err != nil {
		return fmt.Errorf("bench: connecting to Cassandra at %s: %w", strings.Join(hosts, ","), err)
	}
	defer s.Close()
	var errs []error
	for _, ks := range keyspaces {
		if err := s.Query(`DROP KEYSPACE IF EXISTS "` + ks + `"`).WithContext(ctx).Exec(); err != nil {
			errs = append(errs, fmt.Errorf("bench: dropping keyspace %s: %w", ks, err))
		}
	}
	return errors.Join(errs...)
}

// DropLog deletes what the cluster with subject prefix prefix keeps in
// NATS, once its workers are stopped: the ORDER stream, the change feed's
// stream, the lease bucket and the snapshot store (left behind, each
// keeps its JetStream reservation, and the account runs out). Missing
// ones are fine; it reports what it deleted.
func DropLog(ctx context.Context, nc *nats.Conn, prefix string) ([]string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := messages.NewSubjects(prefix)
	var deleted []string
	var errs []error
	drop := func(what, name string, del func(context.Context, string) error, missing ...error) {
		err := del(ctx, name)
		switch {
		case err == nil:
			deleted = append(deleted, what+" "+name)
		case !errors.Is(err, jetstream.ErrStreamNotFound) && (len(missing) == 0 || !errors.Is(err, missing[0])):
			errs = append(errs, fmt.Errorf("bench: deleting %s %s: %w", what, name, err))
		}
	}
	drop("stream", s.StreamName(), js.DeleteStream)
	drop("stream", s.ChangesStream(), js.DeleteStream)
	drop("bucket", s.LeaseBucket(), js.DeleteKeyValue, jetstream.ErrBucketNotFound)
	drop("object store", s.SnapshotBucket(), js.DeleteObjectStore, jetstream.ErrBucketNotFound)
	return deleted, errors.Join(errs...)
}

// ErrorKind classifies an operation's error for the counts of a result:
// the Chorus error code (CQL, UNAVAILABLE, ...), TIMEOUT, NO_WORKERS, a
// Cassandra error class, or OTHER.
func ErrorKind(err error) string {
	var ce *client.Error
	var re gocql.RequestError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Code.String()
	case errors.Is(err, client.ErrNoWorkers):
		return "NO_WORKERS"
	case errors.Is(err, client.ErrNoLeader):
		return "NO_LEADER"
	case errors.Is(err, client.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, gocql.ErrTimeoutNoResponse):
		return "TIMEOUT"
	case errors.As(err, &re):
		switch re.Code() {
		case gocql.ErrCodeWriteTimeout:
			return "WRITE_TIMEOUT"
		case gocql.ErrCodeUnavailable, gocql.ErrCodeOverloaded:
			return "UNAVAILABLE"
		default:
			return "CQL"
		}
	default:
		return "OTHER"
	}
}
