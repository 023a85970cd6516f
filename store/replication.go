package store

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gocql/gocql"
)

// Replication strategies of a keyspace, as Cassandra names them.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Replication is how Cassandra replicates a worker's keyspace: Factor
// copies (SimpleStrategy), or so many copies per data centre
// (NetworkTopologyStrategy). The zero value is SimpleStrategy with
// Config.ReplicationFactor.
type Replication struct {
	Strategy string // SimpleStrategy or NetworkTopologyStrategy
	Factor   int    // SimpleStrategy: copies of each row
	DCs      []DCReplicas
}

// DCReplicas is a data centre and its copies of each row.
type DCReplicas struct {
	Name     string
	Replicas int
}

// ParseStrategy accepts a strategy's short or fully qualified name, in
// any case, and returns the short one.
func ParseStrategy(s string) (string, error) {
	short := s[strings.LastIndexByte(s, '.')+1:]
	for _, name := range []string{SimpleStrategy, NetworkTopologyStrategy} {
		if strings.EqualFold(short, name) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%q is not a replication strategy: use %s or %s", s, SimpleStrategy, NetworkTopologyStrategy)
}

var dcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ParseDCs reads "dc1:3,dc2:3": data centres, each with its copies.
func ParseDCs(s string) ([]DCReplicas, error) {
	var out []DCReplicas
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, ok := strings.Cut(part, ":")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("%q: write each data centre as name:replicas, e.g. dc1:3", part)
		}
		if !dcName.MatchString(name) {
			return nil, fmt.Errorf("%q is not a data centre name (letters, digits, '_', '.', '-'; as nodetool status shows it)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("data centre %s is given twice", name)
		}
		seen[name] = true
		r, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || r < 1 {
			return nil, fmt.Errorf("%q: the replicas of data centre %s must be a whole number of at least 1", part, name)
		}
		out = append(out, DCReplicas{Name: name, Replicas: r})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q names no data centre: write name:replicas,..., e.g. dc1:3,dc2:3", s)
	}
	return out, nil
}

// CQL is the replication map of CREATE or ALTER KEYSPACE.
func (r Replication) CQL() string {
	if r.Strategy == NetworkTopologyStrategy {
		parts := []string{"'class': '" + NetworkTopologyStrategy + "'"}
		for _, dc := range r.DCs {
			parts = append(parts, fmt.Sprintf("'%s': %d", dc.Name, dc.Replicas))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("{'class': '%s', 'replication_factor': %d}", SimpleStrategy, r.Factor)
}

// most is the largest number of copies of a row in one data centre (all
// of them, for SimpleStrategy).
func (r Replication) most() int {
	if r.Strategy != NetworkTopologyStrategy {
		return r.Factor
	}
	n := 0
	for _, dc := range r.DCs {
		n = max(n, dc.Replicas)
	}
	return n
}

// DefaultConsistency is the consistency of a keyspace replicated as r:
// LOCAL_QUORUM when a row has more than one copy (a read then always
// overlaps the last write, with one node of three down), else ONE.
func DefaultConsistency(r Replication) gocql.Consistency {
	if r.Strategy == NetworkTopologyStrategy || r.Factor > 1 {
		return gocql.LocalQuorum
	}
	return gocql.One
}

// ParseConsistency reads a gocql consistency name for the reads and writes
// of a keyspace replicated as r ("" is DefaultConsistency), refusing the
// levels that cannot serve both.
func ParseConsistency(s string, r Replication) (gocql.Consistency, error) {
	if s == "" {
		return DefaultConsistency(r), nil
	}
	cl, err := gocql.ParseConsistencyWrapper(strings.TrimSpace(s))
	if err != nil {
		if up := strings.ToUpper(s); up == "SERIAL" || up == "LOCAL_SERIAL" {
			return 0, fmt.Errorf("%q is a serial consistency (used for conditional writes, chosen to match): use LOCAL_QUORUM, QUORUM, ONE, ...", s)
		}
		return 0, fmt.Errorf("%q is not a consistency level: use ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE", s)
	}
	switch cl {
	case gocql.Any:
		return 0, fmt.Errorf("ANY stores a write nowhere readable and cannot read at all: use ONE or a quorum")
	case gocql.EachQuorum:
		if r.Strategy != NetworkTopologyStrategy {
			return 0, fmt.Errorf("EACH_QUORUM needs %s (data centres): use QUORUM or LOCAL_QUORUM", NetworkTopologyStrategy)
		}
	case gocql.Two, gocql.Three:
		if need := map[gocql.Consistency]int{gocql.Two: 2, gocql.Three: 3}[cl]; need > r.total() {
			return 0, fmt.Errorf("%s needs %d copies of each row but the keyspace keeps %d: every request would fail", cl, need, r.total())
		}
	}
	return cl, nil
}

func (r Replication) total() int {
	if r.Strategy != NetworkTopologyStrategy {
		return r.Factor
	}
	n := 0
	for _, dc := range r.DCs {
		n += dc.Replicas
	}
	return n
}

// ConsistencyRisk says why reads at cl may miss writes made at cl in a
// keyspace replicated as r, or "" if every read overlaps every write (as
// Chorus needs: a worker that reads back less than it applied, e.g. its
// progress record after a Cassandra node failed, applies writes again).
func ConsistencyRisk(cl gocql.Consistency, r Replication) string {
	var need int
	switch cl {
	case gocql.One, gocql.LocalOne:
		need = 1
	case gocql.Two:
		need = 2
	case gocql.Three:
		need = 3
	default: // quorums and ALL always overlap
		return ""
	}
	n := r.most()
	if cl != gocql.LocalOne && r.Strategy == NetworkTopologyStrategy {
		n = r.total() // ONE, TWO, THREE count copies in every data centre
	}
	if 2*need > n {
		return ""
	}
	return fmt.Sprintf("consistency %s with %d copies of each row: a read can miss the last writes (e.g. while a Cassandra node restarts), and a worker that reads back an older progress record applies writes twice; use LOCAL_QUORUM", cl, n)
}

// SerialFor is the serial consistency of conditional writes that goes
// with cl: LOCAL_SERIAL for the LOCAL_ levels, SERIAL otherwise.
func SerialFor(cl gocql.Consistency) gocql.SerialConsistency {
	if cl == gocql.LocalQuorum || cl == gocql.LocalOne {
		return gocql.LocalSerial
	}
	return gocql.Serial
}

// ReplicationDiff compares the replication Cassandra reports for a
// keyspace (system_schema.keyspaces.replication) with r; it returns ""
// when they agree, else what the keyspace has.
func ReplicationDiff(r Replication, got map[string]string) string {
	class, _ := ParseStrategy(got["class"])
	same := class == r.Strategy
	if same && class == SimpleStrategy {
		same = got["replication_factor"] == strconv.Itoa(r.Factor)
	}
	if same && class == NetworkTopologyStrategy {
		want := map[string]string{}
		for _, dc := range r.DCs {
			want[dc.Name] = strconv.Itoa(dc.Replicas)
		}
		n := 0
		for k, v := range got {
			if k == "class" {
				continue
			}
			n++
			same = same && want[k] == v
		}
		same = same && n == len(want)
	}
	if same {
		return ""
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		if k != "class" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("'class': '%s'", got["class"])}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("'%s': '%s'", k, got[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// replicationWarning tells the operator of a keyspace found with another
// replication than configured what to run; Chorus does not alter it, as
// more copies are only safe to read once a repair has filled them.
func replicationWarning(ks string, want Replication, has string) string {
	return fmt.Sprintf("keyspace %s is replicated as %s, not as configured (%s); Chorus leaves it as it is. To change it run, in cqlsh: ALTER KEYSPACE %q WITH replication = %s; then on every Cassandra node: nodetool repair -full %s (and nodetool cleanup %s after lowering it)",
		ks, has, want.CQL(), ks, want.CQL(), ks, ks)
}
