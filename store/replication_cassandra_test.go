package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/store"
)

// TestCassandraWarnsOfOtherReplication: a worker that finds its keyspace
// replicated otherwise than configured says what to run, and does not
// alter the keyspace itself.
func TestCassandraWarnsOfOtherReplication(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	ks := "store_repl_" + hex.EncodeToString(tag)
	cfg := store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 20 * time.Second, DedupWindow: time.Hour, MaxRows: 10}
	first, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	cluster := gocql.NewCluster(hosts...)
	direct, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = direct.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec()
		direct.Close()
	}()
	if w := first.Warnings(); len(w) != 0 {
		t.Fatalf("warnings for a keyspace just created as configured: %q", w)
	}
	cfg.ReplicationFactor = 2
	cfg.Consistency = "ONE"
	second, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	second.Close()
	all := strings.Join(second.Warnings(), "\n")
	for _, part := range []string{
		"'replication_factor': '1'",
		`ALTER KEYSPACE "` + ks + `" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}`,
		"nodetool repair -full " + ks,
		"consistency ONE with 2 copies",
	} {
		if !strings.Contains(all, part) {
			t.Errorf("warnings do not say %q:\n%s", part, all)
		}
	}
	var has map[string]string
	if err := direct.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&has); err != nil {
		t.Fatal(err)
	}
	if has["replication_factor"] != "1" {
		t.Fatalf("the keyspace was altered: %v", has)
	}
}
