package store

import (
	"strings"
	"testing"

	"github.com/gocql/gocql"
)

func TestKeyspaceCQL(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, `CREATE KEYSPACE IF NOT EXISTS "ks" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`},
		{Config{ReplicationFactor: 3}, `CREATE KEYSPACE IF NOT EXISTS "ks" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`},
		{Config{Replication: Replication{Strategy: NetworkTopologyStrategy, DCs: []DCReplicas{{"dc1", 3}, {"dc-2", 2}}}},
			`CREATE KEYSPACE IF NOT EXISTS "ks" WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc-2': 2}`},
	} {
		if got := createKeyspace("ks", tc.cfg.replication()); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.cfg, got, tc.want)
		}
	}
}

func TestParseStrategyAndDCs(t *testing.T) {
	for in, want := range map[string]string{
		"SimpleStrategy": SimpleStrategy, "simplestrategy": SimpleStrategy,
		"org.apache.cassandra.locator.NetworkTopologyStrategy": NetworkTopologyStrategy,
	} {
		if got, err := ParseStrategy(in); err != nil || got != want {
			t.Errorf("ParseStrategy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseStrategy("OldNetworkTopologyStrategy"); err == nil || !strings.Contains(err.Error(), "SimpleStrategy or NetworkTopologyStrategy") {
		t.Errorf("unknown strategy: %v", err)
	}
	dcs, err := ParseDCs(" dc1:3, dc2 : 2 ")
	if err != nil || len(dcs) != 2 || dcs[0] != (DCReplicas{"dc1", 3}) || dcs[1] != (DCReplicas{"dc2", 2}) {
		t.Errorf("ParseDCs = %v, %v", dcs, err)
	}
	for in, msg := range map[string]string{
		"":            "names no data centre",
		"dc1":         "name:replicas",
		"dc1:0":       "at least 1",
		"dc1:x":       "at least 1",
		"dc1:3,dc1:2": "given twice",
		"d'c:3":       "not a data centre name",
	} {
		if _, err := ParseDCs(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseDCs(%q) = %v; want an error saying %q", in, err, msg)
		}
	}
}

func TestConsistency(t *testing.T) {
	rf1 := Replication{Strategy: SimpleStrategy, Factor: 1}
	rf3 := Replication{Strategy: SimpleStrategy, Factor: 3}
	nts := Replication{Strategy: NetworkTopologyStrategy, DCs: []DCReplicas{{"dc1", 3}, {"dc2", 3}}}
	for _, tc := range []struct {
		in   string
		r    Replication
		want gocql.Consistency
		err  string
	}{
		{"", rf1, gocql.One, ""},
		{"", rf3, gocql.LocalQuorum, ""},
		{"", nts, gocql.LocalQuorum, ""},
		{"quorum", rf3, gocql.Quorum, ""},
		{"LOCAL_ONE", rf3, gocql.LocalOne, ""},
		{"ALL", rf1, gocql.All, ""},
		{"THREE", rf3, gocql.Three, ""},
		{"EACH_QUORUM", nts, gocql.EachQuorum, ""},
		{"TWO", rf1, 0, "needs 2 copies"},
		{"EACH_QUORUM", rf3, 0, "needs NetworkTopologyStrategy"},
		{"ANY", rf3, 0, "ANY"},
		{"SERIAL", rf3, 0, "serial consistency"},
		{"MOST", rf3, 0, `"MOST" is not a consistency level`},
	} {
		got, err := ParseConsistency(tc.in, tc.r)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseConsistency(%q, %v) = %v, %v; want an error saying %q", tc.in, tc.r, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseConsistency(%q, %v) = %v, %v; want %v", tc.in, tc.r, got, err, tc.want)
		}
	}
	if SerialFor(gocql.LocalQuorum) != gocql.LocalSerial || SerialFor(gocql.Quorum) != gocql.Serial || SerialFor(gocql.One) != gocql.Serial {
		t.Error("SerialFor: LOCAL_SERIAL goes with the LOCAL_ levels, SERIAL with the others")
	}
}

func TestConsistencyRisk(t *testing.T) {
	rf := func(n int) Replication { return Replication{Strategy: SimpleStrategy, Factor: n} }
	for _, tc := range []struct {
		cl    gocql.Consistency
		r     Replication
		risky bool
	}{
		{gocql.One, rf(1), false},
		{gocql.One, rf(2), true},
		{gocql.One, rf(3), true},
		{gocql.Two, rf(3), false}, // 2 + 2 > 3
		{gocql.Two, rf(4), true},
		{gocql.LocalQuorum, rf(3), false},
		{gocql.Quorum, rf(5), false},
		{gocql.All, rf(3), false},
		{gocql.LocalOne, Replication{Strategy: NetworkTopologyStrategy, DCs: []DCReplicas{{"a", 1}, {"b", 1}}}, false},
		{gocql.One, Replication{Strategy: NetworkTopologyStrategy, DCs: []DCReplicas{{"a", 1}, {"b", 1}}}, true},
	} {
		if got := ConsistencyRisk(tc.cl, tc.r) != ""; got != tc.risky {
			t.Errorf("ConsistencyRisk(%v, %v) risky = %v, want %v", tc.cl, tc.r, got, tc.risky)
		}
	}
}

func TestReplicationDiff(t *testing.T) {
	rf3 := Replication{Strategy: SimpleStrategy, Factor: 3}
	nts := Replication{Strategy: NetworkTopologyStrategy, DCs: []DCReplicas{{"dc1", 3}, {"dc2", 2}}}
	simple := func(n string) map[string]string {
		return map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": n}
	}
	ntsHas := map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "2"}
	for _, tc := range []struct {
		r    Replication
		has  map[string]string
		diff string
	}{
		{rf3, simple("3"), ""},
		{rf3, simple("1"), "{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '1'}"},
		{nts, ntsHas, ""},
		{nts, map[string]string{"class": ntsHas["class"], "dc1": "3"}, "{'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': '3'}"},
		{nts, map[string]string{"class": ntsHas["class"], "dc1": "3", "dc2": "2", "dc3": "1"}, "dc3"},
		{rf3, ntsHas, "NetworkTopologyStrategy"},
	} {
		diff := ReplicationDiff(tc.r, tc.has)
		if (tc.diff == "") != (diff == "") || !strings.Contains(diff, tc.diff) {
			t.Errorf("ReplicationDiff(%v, %v) = %q, want %q", tc.r, tc.has, diff, tc.diff)
		}
	}
	w := replicationWarning("server1", rf3, ReplicationDiff(rf3, simple("1")))
	for _, part := range []string{`ALTER KEYSPACE "server1" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}`, "nodetool repair -full server1", "leaves it"} {
		if !strings.Contains(w, part) {
			t.Errorf("warning %q does not say %q", w, part)
		}
	}
}
