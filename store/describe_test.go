package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/store"
)

// TestCassandraDescribe: DESCRIBE answers from the store's own keyspace
// only: its tables without Chorus's, a table's columns in CREATE TABLE
// order with their roles, and ErrNoTable for a table it does not hold,
// even one of the same name in another keyspace.
func TestCassandraDescribe(t *testing.T) {
	chorustest.RequireIntegration(t)
	hosts := chorustest.CassandraHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	ks, other := "store_desc_"+hex.EncodeToString(tag), "store_desc_other_"+hex.EncodeToString(tag)
	cfg := store.Config{Hosts: hosts, Keyspace: ks, ReplicationFactor: 1, Timeout: 20 * time.Second, DedupWindow: time.Hour, MaxRows: 10}
	s, _, err := store.OpenCassandra(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cluster := gocql.NewCluster(hosts...)
	cluster.Timeout = cfg.Timeout
	direct, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, k := range []string{ks, other} {
			if err := direct.Query(`DROP KEYSPACE IF EXISTS ` + k).Exec(); err != nil {
				t.Errorf("dropping test keyspace %s: %v (drop it by hand)", k, err)
			}
		}
		direct.Close()
	}()
	for _, q := range []string{
		`CREATE KEYSPACE ` + other + ` WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE ` + other + `.elsewhere (id int PRIMARY KEY)`,
	} {
		if err := direct.Query(q).Exec(); err != nil {
			t.Fatal(err)
		}
	}
	o := messages.Order{Epoch: 1, Seq: 1, Timestamp: time.Now().UnixMicro(), Writes: []messages.Write{
		{RequestID: "a", Stmt: "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)"},
		{RequestID: "b", Stmt: "CREATE TABLE reading (sensor text, day date, at timestamp, v double, unit text STATIC, PRIMARY KEY ((sensor, day), at)) WITH CLUSTERING ORDER BY (at DESC)"},
	}}
	outs, err := s.Apply(ctx, []messages.Order{o})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range outs[0] {
		if out.Code != messages.CodeOK {
			t.Fatalf("creating the tables: %+v", out)
		}
	}

	tables, err := s.DescribeTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"grade", "reading"}; !reflect.DeepEqual(tables, want) {
		t.Errorf("DescribeTables = %q, want %q (Chorus's tables and other keyspaces' left out)", tables, want)
	}
	cols, err := s.DescribeTable(ctx, "reading")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Column{
		{Name: "sensor", Type: "text", Kind: "partition_key", Position: 0, ClusteringOrder: "none"},
		{Name: "day", Type: "date", Kind: "partition_key", Position: 1, ClusteringOrder: "none"},
		{Name: "at", Type: "timestamp", Kind: "clustering", Position: 0, ClusteringOrder: "desc"},
		{Name: "unit", Type: "text", Kind: "static", Position: -1, ClusteringOrder: "none"},
		{Name: "v", Type: "double", Kind: "regular", Position: -1, ClusteringOrder: "none"},
	}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("DescribeTable(reading) =\n%+v\nwant\n%+v", cols, want)
	}
	for _, name := range []string{"nope", "elsewhere", "chorus_state"} {
		if _, err := s.DescribeTable(ctx, name); !errors.Is(err, store.ErrNoTable) {
			t.Errorf("DescribeTable(%s) = %v, want ErrNoTable", name, err)
		}
	}
}
