package worker

import (
	"fmt"

	"github.com/chorusdb/chorus/store"
)

// Replication is how Cassandra is to replicate the worker's keyspace, as
// configured (CHORUS_REPLICATION_*). Call it on a validated Config.
func (c *Config) Replication() store.Replication {
	strategy, err := store.ParseStrategy(c.ReplicationStrategy)
	if err != nil || strategy == store.SimpleStrategy {
		return store.Replication{Strategy: store.SimpleStrategy, Factor: c.ReplicationFactor}
	}
	dcs, _ := store.ParseDCs(c.ReplicationDCs)
	return store.Replication{Strategy: strategy, DCs: dcs}
}

// replicationProblems checks the replication and consistency settings.
func (c *Config) replicationProblems() []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s_%s: %s", EnvPrefix, name, fmt.Sprintf(format, args...)))
	}
	strategy, err := store.ParseStrategy(c.ReplicationStrategy)
	switch {
	case err != nil:
		bad("REPLICATION_STRATEGY", "%v", err)
	case strategy == store.NetworkTopologyStrategy:
		if c.ReplicationDCs == "" {
			bad("REPLICATION_DCS", "required with NetworkTopologyStrategy: the data centres and their copies, e.g. dc1:3,dc2:3")
		} else if _, err := store.ParseDCs(c.ReplicationDCs); err != nil {
			bad("REPLICATION_DCS", "%v", err)
		}
	case c.ReplicationDCs != "":
		bad("REPLICATION_DCS", "only used with CHORUS_REPLICATION_STRATEGY=NetworkTopologyStrategy; with SimpleStrategy set CHORUS_REPLICATION_FACTOR instead")
	}
	if len(errs) == 0 && c.ReplicationFactor >= 1 {
		if _, err := store.ParseConsistency(c.CassandraConsistency, c.Replication()); err != nil {
			bad("CASSANDRA_CONSISTENCY", "%v", err)
		}
	}
	return errs
}
