package worker

import (
	"strings"
	"testing"

	"github.com/chorusdb/chorus/store"
)

func TestReplicationSettings(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		strategy, dcs, cl    string
		rf                   int
		want                 store.Replication
		badField, badMessage string
	}{
		{name: "default", strategy: "SimpleStrategy", rf: 1, want: store.Replication{Strategy: store.SimpleStrategy, Factor: 1}},
		{name: "rf3", strategy: "simplestrategy", rf: 3, cl: "local_quorum", want: store.Replication{Strategy: store.SimpleStrategy, Factor: 3}},
		{name: "nts", strategy: "NetworkTopologyStrategy", dcs: "dc1:3,dc2:3", rf: 1,
			want: store.Replication{Strategy: store.NetworkTopologyStrategy, DCs: []store.DCReplicas{{Name: "dc1", Replicas: 3}, {Name: "dc2", Replicas: 3}}}},
		{name: "unknown strategy", strategy: "Everywhere", rf: 1, badField: "CHORUS_REPLICATION_STRATEGY", badMessage: "use SimpleStrategy or NetworkTopologyStrategy"},
		{name: "nts without dcs", strategy: "NetworkTopologyStrategy", rf: 1, badField: "CHORUS_REPLICATION_DCS", badMessage: "required with NetworkTopologyStrategy"},
		{name: "bad dcs", strategy: "NetworkTopologyStrategy", dcs: "dc1=3", rf: 1, badField: "CHORUS_REPLICATION_DCS", badMessage: "name:replicas"},
		{name: "dcs with simple", strategy: "SimpleStrategy", dcs: "dc1:3", rf: 1, badField: "CHORUS_REPLICATION_DCS", badMessage: "CHORUS_REPLICATION_FACTOR instead"},
		{name: "bad level", strategy: "SimpleStrategy", rf: 3, cl: "STRONG", badField: "CHORUS_CASSANDRA_CONSISTENCY", badMessage: `"STRONG" is not a consistency level`},
		{name: "level above rf", strategy: "SimpleStrategy", rf: 1, cl: "THREE", badField: "CHORUS_CASSANDRA_CONSISTENCY", badMessage: "needs 3 copies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.ID = "server0"
			c.ReplicationStrategy, c.ReplicationDCs, c.CassandraConsistency, c.ReplicationFactor = tc.strategy, tc.dcs, tc.cl, tc.rf
			err := c.Validate()
			if tc.badField != "" {
				if err == nil || !strings.Contains(err.Error(), tc.badField+": ") || !strings.Contains(err.Error(), tc.badMessage) {
					t.Fatalf("got %v; want an error naming %s and saying %q", err, tc.badField, tc.badMessage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.Replication()
			if got.Strategy != tc.want.Strategy || got.Factor != tc.want.Factor || len(got.DCs) != len(tc.want.DCs) {
				t.Fatalf("Replication() = %+v, want %+v", got, tc.want)
			}
			for i := range got.DCs {
				if got.DCs[i] != tc.want.DCs[i] {
					t.Fatalf("Replication() = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestReplicationDefaultsFromTheEnvironment(t *testing.T) {
	t.Setenv("CHORUS_ID", "server0")
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.ReplicationStrategy != "SimpleStrategy" || c.ReplicationDCs != "" || c.CassandraConsistency != "" {
		t.Fatalf("defaults: strategy %q, dcs %q, consistency %q", c.ReplicationStrategy, c.ReplicationDCs, c.CassandraConsistency)
	}
	t.Setenv("CHORUS_REPLICATION_STRATEGY", "NetworkTopologyStrategy")
	t.Setenv("CHORUS_CASSANDRA_CONSISTENCY", "ANY")
	_, err = LoadConfig()
	if err == nil || !strings.Contains(err.Error(), "CHORUS_REPLICATION_DCS") {
		t.Fatalf("got %v, want CHORUS_REPLICATION_DCS named", err)
	}
	t.Setenv("CHORUS_REPLICATION_DCS", "dc1:3")
	_, err = LoadConfig()
	if err == nil || !strings.Contains(err.Error(), "CHORUS_CASSANDRA_CONSISTENCY") {
		t.Fatalf("got %v, want CHORUS_CASSANDRA_CONSISTENCY named", err)
	}
}
