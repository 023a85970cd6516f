package worker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/chorusdb/chorus/jsassets"

	"github.com/chorusdb/chorus/check"
	"github.com/chorusdb/chorus/messages"
)

// EnvPrefix is the prefix of every environment variable of chorus-worker.
const EnvPrefix = "CHORUS"

// Config is the whole configuration of a worker. Defaults live in the
// struct tags, in this one place; LoadConfig reads CHORUS_* variables.
type Config struct {
	ID                string        `envconfig:"ID" desc:"the worker's name, unique in the cluster, e.g. server0 (required)"`
	Keyspace          string        `envconfig:"KEYSPACE" desc:"the Cassandra keyspace this worker owns (default: the ID)"`
	NATSURL           string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated"`
	CassandraHosts    []string      `envconfig:"CASSANDRA_HOSTS" default:"127.0.0.1:9042" desc:"Cassandra contact points, comma-separated host:port"`
	CassandraUser     string        `envconfig:"CASSANDRA_USERNAME" desc:"Cassandra user name, if authentication is on"`
	CassandraPassword string        `envconfig:"CASSANDRA_PASSWORD" desc:"Cassandra password"`
	ReplicationFactor int           `envconfig:"REPLICATION_FACTOR" default:"1" desc:"replication factor of the keyspace when the worker creates it"`
	SubjectPrefix     string        `envconfig:"SUBJECT_PREFIX" default:"db" desc:"prefix of every NATS subject, stream and bucket (several clusters can share one NATS)"`
	LeaseTTL          time.Duration `envconfig:"LEASE_TTL" default:"3s" desc:"how long a silent leader keeps the role; bounds failover time"`
	HeartbeatInterval time.Duration `envconfig:"HEARTBEAT_INTERVAL" default:"250ms" desc:"how often a worker tells the leader it is alive"`
	HeartbeatTimeout  time.Duration `envconfig:"HEARTBEAT_TIMEOUT" default:"1500ms" desc:"a worker silent this long is taken out of the ACK set"`
	AckTimeout        time.Duration `envconfig:"ACK_TIMEOUT" default:"5s" desc:"a worker that has not applied a write this long after it was ordered is taken out of the ACK set until it catches up"`
	CatchUpTimeout    time.Duration `envconfig:"CATCHUP_TIMEOUT" default:"10s" desc:"a new leader whose own replica has not reached its epoch marker this long after winning gives the lease to a worker that is caught up"`
	StallTimeout      time.Duration `envconfig:"STALL_TIMEOUT" default:"5s" desc:"a replica behind the log that receives nothing for this long reports itself stalled and reads the log again"`
	LogReplicas       int           `envconfig:"LOG_REPLICAS" default:"1" desc:"replicas of every JetStream asset Chorus creates (ORDER stream, lease bucket, snapshot bucket, changes stream): 1 on a single NATS server, 3 on a JetStream cluster (at most 5)"`
	SnapshotEvery     uint64        `envconfig:"SNAPSHOT_EVERY" default:"10000" desc:"the leader asks for a snapshot every this many log entries (0: only by chorus snapshot)"`
	LogRetain         uint64        `envconfig:"LOG_RETAIN" default:"10000" desc:"log entries kept behind the newest snapshot when the log is trimmed"`
	SnapshotKeep      int           `envconfig:"SNAPSHOT_KEEP" default:"3" desc:"snapshots kept in the bucket (older ones are deleted once a newer one is complete)"`
	SnapshotTimeout   time.Duration `envconfig:"SNAPSHOT_TIMEOUT" default:"5m" desc:"a requested snapshot not reported done by then is given up and requested again"`
	ForwardTimeout    time.Duration `envconfig:"FORWARD_TIMEOUT" default:"15s" desc:"how long a worker keeps retrying to hand a write to a leader before answering UNAVAILABLE"`
	ReadTimeout       time.Duration `envconfig:"READ_TIMEOUT" default:"3s" desc:"how long a linearizable, bounded or min_seq read waits for a read index and for this replica to apply that far before answering UNAVAILABLE (keep it below the client's attempt timeout)"`
	CassandraTimeout  time.Duration `envconfig:"CASSANDRA_TIMEOUT" default:"10s" desc:"timeout of one Cassandra request"`
	MaxStatementBytes int           `envconfig:"MAX_STATEMENT_BYTES" default:"262144" desc:"largest statement accepted, in bytes"`
	MaxRows           int           `envconfig:"MAX_ROWS" default:"10000" desc:"largest read answered, in rows"`
	DedupWindow       time.Duration `envconfig:"DEDUP_WINDOW" default:"24h" desc:"how long a request id is remembered for exactly-once retries"`
	DedupMax          int           `envconfig:"DEDUP_MAX" default:"1000000" desc:"most request ids remembered in memory (oldest forgotten first)"`
	LogLevel          string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	DebugAddr         string        `envconfig:"DEBUG_ADDR" desc:"if set (e.g. 127.0.0.1:6060), serve Go's /debug/pprof profiles there"`
	MetricsAddr       string        `envconfig:"METRICS_ADDR" desc:"if set (e.g. :9464), serve Prometheus /metrics, /healthz (up, NATS connected) and /readyz (caught up and in the ACK set, or leading) there over HTTP"`
	NoopStore         bool          `envconfig:"NOOP_STORE" default:"false" desc:"benchmarks only: acknowledge writes without applying them, to measure the ordering layer alone (the worker then holds no data)"`

	// The change feed (package feed).
	Feed         bool  `envconfig:"FEED" default:"true" desc:"publish every committed write on <prefix>.changes.<table> (the leader does, into the stream CHORUS_<prefix>_CHANGES)"`
	FeedMaxBytes int64 `envconfig:"FEED_MAX_BYTES" default:"1073741824" desc:"bytes the changes stream keeps, oldest changes dropped first (read when the stream is created; later: nats stream edit)"`

	// NATS credentials (at most one kind) and TLS; see natsconn.go.
	NATSCreds    string `envconfig:"NATS_CREDS" desc:"NATS .creds file (user JWT and nkey seed)"`
	NATSNKey     string `envconfig:"NATS_NKEY" desc:"file holding the worker's NATS nkey seed (with no NATS credential set at all: .data/creds/worker.nk if it exists, make up's local worker key)"`
	NATSUser     string `envconfig:"NATS_USER" desc:"NATS user name (also possible as nats://user:pass@host in CHORUS_NATS_URL)"`
	NATSPassword string `envconfig:"NATS_PASSWORD" desc:"NATS password of CHORUS_NATS_USER"`
	NATSToken    string `envconfig:"NATS_TOKEN" desc:"NATS authentication token"`
	NATSTLSCA    string `envconfig:"NATS_TLS_CA" desc:"PEM file of the CA that signed the NATS server's certificate (turns TLS on)"`
	NATSTLSCert  string `envconfig:"NATS_TLS_CERT" desc:"PEM file of the worker's client certificate for NATS (with CHORUS_NATS_TLS_KEY)"`
	NATSTLSKey   string `envconfig:"NATS_TLS_KEY" desc:"PEM file of the private key of CHORUS_NATS_TLS_CERT"`
	// Cassandra TLS (gocql SslOptions).
	CassandraTLSCA   string `envconfig:"CASSANDRA_TLS_CA" desc:"PEM file of the CA of Cassandra's certificates (turns TLS on, with host verification)"`
	CassandraTLSCert string `envconfig:"CASSANDRA_TLS_CERT" desc:"PEM file of the client certificate for Cassandra (with CHORUS_CASSANDRA_TLS_KEY)"`
	CassandraTLSKey  string `envconfig:"CASSANDRA_TLS_KEY" desc:"PEM file of the private key of CHORUS_CASSANDRA_TLS_CERT"`
	// Cassandra's own replication of the keyspace, and the consistency of
	// every read and write (config_cassandra.go).
	ReplicationStrategy  string `envconfig:"REPLICATION_STRATEGY" default:"SimpleStrategy" desc:"replication strategy of the keyspace when the worker creates it: SimpleStrategy (CHORUS_REPLICATION_FACTOR copies) or NetworkTopologyStrategy (CHORUS_REPLICATION_DCS)"`
	ReplicationDCs       string `envconfig:"REPLICATION_DCS" desc:"NetworkTopologyStrategy only: data centres and their copies, e.g. dc1:3,dc2:3"`
	CassandraConsistency string `envconfig:"CASSANDRA_CONSISTENCY" desc:"consistency of the worker's Cassandra reads and writes: ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE (default: LOCAL_QUORUM with more than one copy, else ONE)"`
}

var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// Validate names every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s_%s: %s", EnvPrefix, name, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.ID == "":
		bad("ID", "required: set it to this worker's unique name, e.g. server0")
	case !messages.ValidToken(c.ID):
		bad("ID", "%q cannot be a NATS subject token: no dots, spaces, '*' or '>'", c.ID)
	}
	ks := c.Keyspace
	if ks == "" {
		ks = c.ID
	}
	if ks != "" && !keyspaceName.MatchString(ks) {
		name := "KEYSPACE"
		if c.Keyspace == "" {
			name = "ID"
		}
		bad(name, "%q is not a valid Cassandra keyspace name (letters, digits and _, starting with a letter, at most 48); set CHORUS_KEYSPACE", ks)
	}
	if strings.HasPrefix(strings.ToLower(ks), "system") {
		bad("KEYSPACE", "%q is reserved by Cassandra", ks)
	}
	if c.NATSURL == "" {
		bad("NATS_URL", "required")
	}
	if len(c.CassandraHosts) == 0 {
		bad("CASSANDRA_HOSTS", "required")
	}
	if !messages.ValidPrefix(c.SubjectPrefix) {
		bad("SUBJECT_PREFIX", "%q is not a valid subject prefix (dot-separated tokens without spaces or wildcards)", c.SubjectPrefix)
	}
	if c.ReplicationFactor < 1 {
		bad("REPLICATION_FACTOR", "must be at least 1, got %d", c.ReplicationFactor)
	}
	positive := map[string]time.Duration{
		"LEASE_TTL": c.LeaseTTL, "HEARTBEAT_INTERVAL": c.HeartbeatInterval, "HEARTBEAT_TIMEOUT": c.HeartbeatTimeout,
		"ACK_TIMEOUT": c.AckTimeout, "FORWARD_TIMEOUT": c.ForwardTimeout, "READ_TIMEOUT": c.ReadTimeout, "CASSANDRA_TIMEOUT": c.CassandraTimeout,
		"DEDUP_WINDOW": c.DedupWindow, "CATCHUP_TIMEOUT": c.CatchUpTimeout, "STALL_TIMEOUT": c.StallTimeout, "SNAPSHOT_TIMEOUT": c.SnapshotTimeout,
	}
	for _, name := range sortedKeys(positive) {
		if positive[name] <= 0 {
			bad(name, "must be a positive duration, got %s", positive[name])
		}
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < 500*time.Millisecond {
		bad("LEASE_TTL", "%s is too short to renew reliably; use at least 500ms", c.LeaseTTL)
	}
	if c.HeartbeatInterval > 0 && c.HeartbeatTimeout > 0 && c.HeartbeatTimeout < 2*c.HeartbeatInterval {
		bad("HEARTBEAT_TIMEOUT", "%s must be at least twice CHORUS_HEARTBEAT_INTERVAL (%s)", c.HeartbeatTimeout, c.HeartbeatInterval)
	}
	if c.DedupWindow > 0 && c.DedupWindow < time.Second {
		bad("DEDUP_WINDOW", "must be at least 1s")
	}
	if c.MaxStatementBytes < 1 || c.MaxStatementBytes > check.MaxStatementBytes {
		bad("MAX_STATEMENT_BYTES", "must be between 1 and %d (NATS's default max_payload), got %d", check.MaxStatementBytes, c.MaxStatementBytes)
	}
	if c.MaxRows < 1 {
		bad("MAX_ROWS", "must be positive")
	}
	if c.LogReplicas < 1 || c.LogReplicas > jsassets.MaxReplicas {
		bad("LOG_REPLICAS", "must be between 1 and %d (JetStream's limit), got %d; use 3 on a 3-server NATS cluster", jsassets.MaxReplicas, c.LogReplicas)
	}
	if c.SnapshotKeep < 1 {
		bad("SNAPSHOT_KEEP", "must be at least 1, got %d", c.SnapshotKeep)
	}
	if c.SnapshotEvery > 0 && c.LogRetain < 1 {
		bad("LOG_RETAIN", "must be at least 1 when snapshots are taken (CHORUS_SNAPSHOT_EVERY=%d)", c.SnapshotEvery)
	}
	if c.MetricsAddr != "" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "%q: %v (use host:port or :port, e.g. :9464)", c.MetricsAddr, err)
		}
	}
	if c.FeedMaxBytes < 1<<20 {
		bad("FEED_MAX_BYTES", "must be at least 1048576 (1 MiB), got %d", c.FeedMaxBytes)
	}
	if c.DedupMax < 1 {
		bad("DEDUP_MAX", "must be positive")
	}
	errs = append(errs, c.natsSettings().Problems(natsNames)...)
	errs = append(errs, c.cassandraTLSProblems()...)
	errs = append(errs, c.replicationProblems()...)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "%q: use debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// checkListenAddr checks a host:port to listen on.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func sortedKeys(m map[string]time.Duration) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys { // tiny: insertion sort keeps the messages in a stable order
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// KeyspaceName is the keyspace the worker owns.
func (c *Config) KeyspaceName() string {
	if c.Keyspace != "" {
		return c.Keyspace
	}
	return c.ID
}

// DefaultConfig is the configuration with every default and nothing from
// the environment (ID and the like still to set), for tests and embedders.
func DefaultConfig() Config {
	var c Config
	// A prefix no environment defines: only the struct tags' defaults apply.
	if err := envconfig.Process("CHORUS_DEFAULTS_ONLY_7f3a", &c); err != nil {
		panic(fmt.Sprintf("worker: the defaults of Config do not parse: %v", err))
	}
	return c
}

// LoadConfig reads the configuration from CHORUS_* variables and validates
// it, reporting every unparsable variable and every invalid value together.
func LoadConfig() (Config, error) {
	var c Config
	var errs []error
	// envconfig stops at the first unparsable variable: set each one aside
	// and go on, so the operator sees every problem in one run.
	restore := map[string]string{}
	defer func() {
		for k, v := range restore {
			os.Setenv(k, v)
		}
	}()
	for range 64 {
		err := envconfig.Process(EnvPrefix, &c)
		var pe *envconfig.ParseError
		if err == nil || !errors.As(err, &pe) {
			if err != nil {
				errs = append(errs, err)
			}
			break
		}
		errs = append(errs, fmt.Errorf("%s: cannot parse %q as %s", pe.KeyName, pe.Value, pe.TypeName))
		restore[pe.KeyName] = pe.Value
		os.Unsetenv(pe.KeyName)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Usage writes the table of variables, their defaults and meanings.
func Usage(w io.Writer) error {
	var c Config
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(EnvPrefix, &c, tw, envconfig.DefaultTableFormat); err != nil {
		return err
	}
	return tw.Flush()
}
