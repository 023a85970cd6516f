package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
)

// A schema change cannot share a logged batch with its record, so it runs
// alone and is recorded after. A worker that dies (or whose record fails)
// in between runs it again, and the second run answers otherwise than the
// other replicas' first: "already exists" where they said SUCCESS. So
// before a schema change the store writes its intent with a digest of the
// keyspace's schema; run again, a schema that has changed since says the
// first run took effect (nothing else changes a replica's schema, and a
// schema change that fails changes nothing), and the write is recorded
// as SUCCESS without running it again.
const intentTable = "chorus_intent"

const createIntent = `CREATE TABLE IF NOT EXISTS ` + intentTable + ` (id int PRIMARY KEY, seq bigint, idx int, digest text)`

// schemaChange: a statement the intent covers (TRUNCATE changes no schema
// and running it again is harmless).
func schemaChange(st cql.Statement) bool {
	return st.Kind.IsSchema() && st.Kind != cql.KindTruncate
}

// schemaDigest sums the keyspace's schema as DESCRIBE KEYSPACE gives it,
// without the keyspace itself (the operator may alter its replication)
// and Chorus's own tables, once every node agrees on the schema.
func (c *Cassandra) schemaDigest(ctx context.Context) (string, error) {
	if err := c.session.AwaitSchemaAgreement(ctx); err != nil {
		return "", fmt.Errorf("waiting for the nodes to agree on the schema of %s: %w", c.keyspace, classify(err))
	}
	iter := c.session.Query(`DESCRIBE KEYSPACE ` + quoteName(c.keyspace)).WithContext(ctx).Iter()
	var lines []string
	var ks, typ, name, stmt string
	for iter.Scan(&ks, &typ, &name, &stmt) {
		if typ == "keyspace" || (typ == "table" && IsReservedTable(name)) {
			continue
		}
		lines = append(lines, typ+" "+name+" "+stmt)
	}
	if err := iter.Close(); err != nil {
		return "", fmt.Errorf("describing keyspace %s: %w", c.keyspace, classify(err))
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ranBefore reports whether write k of o, a schema change, took effect in
// an earlier run that was not recorded; if it did not, the intent to run
// it is written first.
func (c *Cassandra) ranBefore(ctx context.Context, o *messages.Order, k int) (bool, error) {
	digest, err := c.schemaDigest(ctx)
	if err != nil {
		return false, err
	}
	var seq int64
	var idx int
	var before string
	err = c.session.Query(`SELECT seq, idx, digest FROM `+intentTable+` WHERE id = 0`).WithContext(ctx).Scan(&seq, &idx, &before)
	switch {
	case err == nil && uint64(seq) == o.Seq && idx == k:
		return before != digest, nil
	case err != nil && !errors.Is(err, gocql.ErrNotFound):
		return false, fmt.Errorf("reading the schema intent of %s: %w", c.keyspace, classify(err))
	}
	err = c.session.Query(`INSERT INTO `+intentTable+` (id, seq, idx, digest) VALUES (0, ?, ?, ?) USING TIMESTAMP ?`,
		int64(o.Seq), k, digest, o.WriteTimestamp(k)).WithContext(ctx).Exec()
	if err != nil {
		return false, fmt.Errorf("recording the schema intent of %s: %w", c.keyspace, classify(err))
	}
	return false, nil
}
