package cql

import (
	"errors"
	"strings"
	"testing"
)

const ks = "server0"

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Statement // ApplyOffset -1 is filled in for non-batches
	}{
		// Reads.
		{"select", "SELECT * FROM t", Statement{Text: "SELECT * FROM t", Kind: KindSelect}},
		{"select lower case", "select a, b from t where k = 1", Statement{Kind: KindSelect}},
		{"select own keyspace", "SELECT * FROM server0.t", Statement{Kind: KindSelect}},
		{"select own keyspace any case", "SELECT * FROM SERVER0.t", Statement{Kind: KindSelect}},
		{"select own keyspace quoted", `SELECT * FROM "server0"."T"`, Statement{Kind: KindSelect}},
		{"select udt field", "SELECT addr.city, u.a.b FROM t WHERE k = 1", Statement{Kind: KindSelect}},
		{"select udt field in where", "SELECT * FROM t WHERE addr.city = 'x' ALLOW FILTERING", Statement{Kind: KindSelect}},
		{"select system function", "SELECT system.toTimestamp(system.now()) FROM t", Statement{Kind: KindSelect}},
		{"select own function", "SELECT server0.f(a) FROM t", Statement{Kind: KindSelect}},
		{"select json", "SELECT JSON * FROM t", Statement{Kind: KindSelect}},
		{"select cast", "SELECT CAST(a AS text) FROM t", Statement{Kind: KindSelect}},
		{"select from in string", "SELECT 'FROM system.local' FROM t", Statement{Kind: KindSelect}},
		{"select from quoted column", `SELECT "from" FROM t`, Statement{Kind: KindSelect}},
		{"select token", "SELECT * FROM t WHERE token(k) > token(1)", Statement{Kind: KindSelect}},
		{"select ann", "SELECT * FROM t ORDER BY v ANN OF [1.0, 2.5] LIMIT 3", Statement{Kind: KindSelect}},
		{"select type hint", "SELECT * FROM t WHERE u = (other.udt){a: 1} ALLOW FILTERING", Statement{Kind: KindSelect}},
		{"select now", "SELECT now() FROM t", Statement{Kind: KindSelect}},

		// Trimming.
		{"trailing semicolon", "  SELECT * FROM t ;  ", Statement{Text: "SELECT * FROM t", Kind: KindSelect}},
		{"comments trimmed", "-- lead\n/* x */ SELECT * FROM t /* y */; -- tail", Statement{Text: "SELECT * FROM t", Kind: KindSelect}},
		{"inner comment kept", "SELECT * /* all */ FROM t", Statement{Text: "SELECT * /* all */ FROM t", Kind: KindSelect}},
		{"semicolon in string", "INSERT INTO t (a) VALUES ('a;b')", Statement{Text: "INSERT INTO t (a) VALUES ('a;b')", Kind: KindInsert}},
		{"semicolon in comment", "SELECT * FROM t -- ; DROP TABLE t\n", Statement{Text: "SELECT * FROM t", Kind: KindSelect}},

		// DML.
		{"insert", "INSERT INTO t (k, v) VALUES (1, 'x')", Statement{Kind: KindInsert}},
		{"insert quoted table", `INSERT INTO "Events" (k) VALUES (1)`, Statement{Kind: KindInsert}},
		{"insert json", `INSERT INTO t JSON '{"k": 1}' DEFAULT UNSET`, Statement{Kind: KindInsert}},
		{"insert if not exists", "INSERT INTO t (k) VALUES (1) IF NOT EXISTS", Statement{Kind: KindInsert, Conditional: true}},
		{"insert using timestamp", "INSERT INTO t (k) VALUES (1) USING TIMESTAMP 123", Statement{Kind: KindInsert, UsingTimestamp: true}},
		{"insert using ttl and timestamp", "INSERT INTO t (k) VALUES (1) USING TTL 10 AND TIMESTAMP 5", Statement{Kind: KindInsert, UsingTimestamp: true}},
		{"insert using negative", "INSERT INTO t (k) VALUES (1) USING TTL -1 AND TIMESTAMP -5", Statement{Kind: KindInsert, UsingTimestamp: true}},
		{"insert using ttl", "INSERT INTO t (k) VALUES (1) USING TTL 10", Statement{Kind: KindInsert}},
		{"insert using bind markers", "INSERT INTO t (k) VALUES (?) USING TTL :ttl AND TIMESTAMP :ts", Statement{Kind: KindInsert, UsingTimestamp: true}},
		{"insert system function", "INSERT INTO t (k, v) VALUES (1, system.now())", Statement{Kind: KindInsert}},
		{"insert type hint", "INSERT INTO t (k, v) VALUES (1, (timestamp)5)", Statement{Kind: KindInsert}},
		{"insert udt literal", "INSERT INTO t (k, addr) VALUES (1, {city: 'x', zip: 2})", Statement{Kind: KindInsert}},
		{"insert column named timestamp", "INSERT INTO t (k, timestamp) VALUES (1, 2)", Statement{Kind: KindInsert}},
		{"update", "UPDATE t SET v = 1 WHERE k = 1", Statement{Kind: KindUpdate}},
		{"update udt field", "UPDATE t SET addr.city = 'x', b = 2 WHERE k = 1", Statement{Kind: KindUpdate}},
		{"update if", "UPDATE t SET v = 1 WHERE k = 1 IF v = 0", Statement{Kind: KindUpdate, Conditional: true}},
		{"update if exists", "UPDATE t SET v = 1 WHERE k = 1 IF EXISTS", Statement{Kind: KindUpdate, Conditional: true}},
		{"update if udt field", "UPDATE t SET v = 1 WHERE k = 1 IF addr.city = 'x'", Statement{Kind: KindUpdate, Conditional: true}},
		{"update using", "UPDATE t USING TIMESTAMP 5 AND TTL 3 SET v = 1 WHERE k = 1", Statement{Kind: KindUpdate, UsingTimestamp: true}},
		{"update column timestamp", "UPDATE t USING TTL 3 SET timestamp = 1 WHERE k = 1", Statement{Kind: KindUpdate}},
		{"update collection", "UPDATE t SET m['a'] = 1, l = l + [2], s -= {3} WHERE k = 1", Statement{Kind: KindUpdate}},
		{"update if in string", "UPDATE t SET v = 'IF x' WHERE k = 1", Statement{Kind: KindUpdate}},
		{"update if quoted column", `UPDATE t SET "if" = 1 WHERE k = 1`, Statement{Kind: KindUpdate}},
		{"delete", "DELETE FROM t WHERE k = 1", Statement{Kind: KindDelete}},
		{"delete columns", "DELETE a, addr.city, m['x'] FROM t WHERE k = 1", Statement{Kind: KindDelete}},
		{"delete using if", "DELETE FROM t USING TIMESTAMP 9 WHERE k = 1 IF EXISTS", Statement{Kind: KindDelete, Conditional: true, UsingTimestamp: true}},
		{"truncate", "TRUNCATE t", Statement{Kind: KindTruncate}},
		{"truncate table", "TRUNCATE TABLE t", Statement{Kind: KindTruncate}},

		// Batches.
		{"batch", "BEGIN BATCH INSERT INTO t (k) VALUES (1); UPDATE t SET v = 2 WHERE k = 1; APPLY BATCH",
			Statement{Kind: KindBatch, BatchType: "LOGGED"}},
		{"batch no semicolons", "BEGIN BATCH INSERT INTO t (k) VALUES (1) DELETE FROM t WHERE k = 2 APPLY BATCH;",
			Statement{Text: "BEGIN BATCH INSERT INTO t (k) VALUES (1) DELETE FROM t WHERE k = 2 APPLY BATCH", Kind: KindBatch, BatchType: "LOGGED"}},
		{"batch unlogged", "BEGIN UNLOGGED BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH", Statement{Kind: KindBatch, BatchType: "UNLOGGED"}},
		{"batch counter", "begin counter batch update c set n = n + 1 where k = 1 apply batch", Statement{Kind: KindBatch, BatchType: "COUNTER"}},
		{"batch using timestamp", "BEGIN BATCH USING TIMESTAMP 7 INSERT INTO t (k) VALUES (1) APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED", UsingTimestamp: true}},
		{"batch inner timestamp", "BEGIN BATCH INSERT INTO t (k) VALUES (1) USING TIMESTAMP 3; APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED", UsingTimestamp: true}},
		{"batch conditional", "BEGIN BATCH INSERT INTO t (k) VALUES (1) IF NOT EXISTS; UPDATE t SET v = 1 WHERE k = 1; APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED", Conditional: true}},
		{"batch empty", "BEGIN BATCH APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED"}},
		{"batch comments", "/* c */ BEGIN BATCH -- x\n INSERT INTO t (k) VALUES (1);\n APPLY BATCH; -- done",
			Statement{Text: "BEGIN BATCH -- x\n INSERT INTO t (k) VALUES (1);\n APPLY BATCH", Kind: KindBatch, BatchType: "LOGGED"}},
		{"batch string with apply batch", "BEGIN BATCH INSERT INTO t (k, v) VALUES (1, 'APPLY BATCH; x'); APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED"}},
		{"batch udt field", "BEGIN BATCH UPDATE t SET a.b = 1 WHERE k = 1; DELETE a.b FROM t WHERE k = 2; APPLY BATCH", Statement{Kind: KindBatch, BatchType: "LOGGED"}},

		// Schema.
		{"create table", "CREATE TABLE t (k int PRIMARY KEY, v text, ts timestamp) WITH comment = 'x.y' AND compaction = {'class': 'SizeTieredCompactionStrategy'}", Statement{Kind: KindCreateTable}},
		{"create table if not exists", "CREATE TABLE IF NOT EXISTS t (k int, c int, v frozen<addr>, PRIMARY KEY ((k), c)) WITH CLUSTERING ORDER BY (c DESC)", Statement{Kind: KindCreateTable}},
		{"create columnfamily", "CREATE COLUMNFAMILY t (k int PRIMARY KEY)", Statement{Kind: KindCreateTable}},
		{"create table vector and mask", "CREATE TABLE t (k int PRIMARY KEY, v vector<float, 3>, s text MASKED WITH system.mask_inner(1, null), e text MASKED WITH mask_default())", Statement{Kind: KindCreateTable}},
		{"create table column now", "CREATE TABLE t (now timestamp PRIMARY KEY, uuid uuid)", Statement{Kind: KindCreateTable}},
		{"alter table add", "ALTER TABLE t ADD x int", Statement{Kind: KindAlterTable}},
		{"alter table if exists", "ALTER TABLE IF EXISTS t ADD IF NOT EXISTS (x int, y list<frozen<addr>>)", Statement{Kind: KindAlterTable}},
		{"alter table with", "ALTER TABLE t WITH default_time_to_live = 10 AND bloom_filter_fp_chance = 0.01", Statement{Kind: KindAlterTable}},
		{"drop table", "DROP TABLE IF EXISTS t", Statement{Kind: KindDropTable}},
		{"create type", "CREATE TYPE IF NOT EXISTS addr (city text, zip int, tags frozen<set<text>>)", Statement{Kind: KindCreateType}},
		{"alter type", "ALTER TYPE addr RENAME zip TO postcode", Statement{Kind: KindAlterType}},
		{"drop type", "DROP TYPE IF EXISTS addr", Statement{Kind: KindDropType}},
		{"create index", "CREATE INDEX ON t (v)", Statement{Kind: KindCreateIndex}},
		{"create index named", "CREATE INDEX IF NOT EXISTS idx ON t (keys(m))", Statement{Kind: KindCreateIndex}},
		{"create custom index", "CREATE CUSTOM INDEX idx ON t (v) USING 'StorageAttachedIndex' WITH OPTIONS = {'case_sensitive': 'false'}", Statement{Kind: KindCreateIndex}},
		{"create index sai", "CREATE INDEX idx ON t (entries(m)) USING 'sai'", Statement{Kind: KindCreateIndex}},
		{"drop index", "DROP INDEX IF EXISTS idx", Statement{Kind: KindDropIndex}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, ks)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			want := tt.want
			if want.Text == "" {
				want.Text = strings.TrimSpace(tt.in)
			}
			if want.Kind != KindBatch {
				want.ApplyOffset = -1
			} else {
				want.ApplyOffset = strings.LastIndex(strings.ToUpper(want.Text), "APPLY BATCH")
			}
			if !sameStatement(got, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
			if got.Kind == KindBatch && !strings.EqualFold(got.Text[got.ApplyOffset:], "APPLY BATCH") {
				t.Errorf("ApplyOffset %d does not point at the final APPLY BATCH in %q", got.ApplyOffset, got.Text)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
		msg  string // a part of the message
	}{
		// Empty and multiple.
		{"empty", "", ErrEmpty, "no CQL statement"},
		{"blank", " \n\t ", ErrEmpty, ""},
		{"comment only", "-- nothing\n/* here */", ErrEmpty, ""},
		{"semicolon only", " ; ", ErrEmpty, ""},
		{"two statements", "SELECT * FROM t; SELECT * FROM u", ErrMultiple, "byte 15"},
		{"two semicolons", "SELECT * FROM t;;", ErrMultiple, ""},
		{"injection after string", "INSERT INTO t (a) VALUES ('x'); DROP TABLE t", ErrMultiple, ""},
		{"statement after batch", "BEGIN BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH; DELETE FROM t WHERE k = 1", ErrMultiple, "APPLY BATCH"},
		{"use then select", "USE ks; SELECT * FROM t", ErrMultiple, ""},

		// Syntax.
		{"unterminated string", "INSERT INTO t (a) VALUES ('x)", ErrSyntax, "unterminated string"},
		{"unterminated quoted", `SELECT * FROM "t`, ErrSyntax, "unterminated quoted name"},
		{"unterminated comment", "SELECT * FROM t /*", ErrSyntax, "unterminated comment"},
		{"unknown keyword", "UPSERT INTO t (k) VALUES (1)", ErrSyntax, "unknown statement UPSERT"},
		{"not a keyword", "(SELECT 1)", ErrSyntax, "starts with a keyword"},
		{"string first", "'SELECT'", ErrSyntax, "starts with a keyword"},
		{"insert without into", "INSERT t (k) VALUES (1)", ErrSyntax, "INTO after INSERT"},
		{"select without from", "SELECT now()", ErrSyntax, "FROM"},
		{"delete without from", "DELETE WHERE k = 1", ErrSyntax, "FROM"},
		{"update without table", "UPDATE", ErrSyntax, "table name after UPDATE"},
		{"create unknown", "CREATE STUFF x", ErrSyntax, "TABLE, TYPE or INDEX after CREATE"},
		{"alter index", "ALTER INDEX i", ErrSyntax, "TABLE or TYPE after ALTER"},
		{"begin logged", "BEGIN LOGGED BATCH APPLY BATCH", ErrSyntax, "after BEGIN"},
		{"batch without apply", "BEGIN BATCH INSERT INTO t (k) VALUES (1);", ErrSyntax, "APPLY BATCH"},
		{"batch with select", "BEGIN BATCH SELECT * FROM t; APPLY BATCH", ErrSyntax, "only INSERT, UPDATE and DELETE"},
		{"batch with truncate", "BEGIN BATCH TRUNCATE t APPLY BATCH", ErrSyntax, "only INSERT, UPDATE and DELETE"},
		{"batch nested", "BEGIN BATCH BEGIN BATCH APPLY BATCH APPLY BATCH", ErrMultiple, "follows APPLY BATCH"},
		{"batch empty statement", "BEGIN BATCH INSERT INTO t (k) VALUES (1);; APPLY BATCH", ErrSyntax, ""},
		{"apply alone", "APPLY BATCH", ErrSyntax, "unknown statement"},
		{"bad character", "SELECT * FROM t WHERE a = #1", ErrSyntax, "unexpected character"},

		// Unsupported.
		{"use", "USE server0", ErrUnsupported, "manages keyspaces"},
		{"use quoted", `use "Other"`, ErrUnsupported, "manages keyspaces"},
		{"create keyspace", "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'}", ErrUnsupported, "manages keyspaces"},
		{"create schema", "CREATE SCHEMA IF NOT EXISTS k", ErrUnsupported, "manages keyspaces"},
		{"alter keyspace", "ALTER KEYSPACE server0 WITH durable_writes = false", ErrUnsupported, "manages keyspaces"},
		{"drop keyspace", "drop keyspace server1", ErrUnsupported, "manages keyspaces"},
		{"drop schema", "DROP SCHEMA server1", ErrUnsupported, "manages keyspaces"},
		{"grant", "GRANT SELECT ON ALL KEYSPACES TO bob", ErrUnsupported, "Chorus supports SELECT, INSERT"},
		{"revoke", "REVOKE MODIFY ON t FROM bob", ErrUnsupported, "REVOKE"},
		{"create role", "CREATE ROLE bob WITH PASSWORD = 'x'", ErrUnsupported, "CREATE ROLE"},
		{"alter role", "ALTER ROLE bob WITH LOGIN = true", ErrUnsupported, "ALTER ROLE"},
		{"drop role", "DROP ROLE bob", ErrUnsupported, "DROP ROLE"},
		{"create user", "CREATE USER bob", ErrUnsupported, "CREATE USER"},
		{"alter user", "ALTER USER bob WITH PASSWORD 'x'", ErrUnsupported, "ALTER USER"},
		{"drop user", "DROP USER bob", ErrUnsupported, "DROP USER"},
		{"list roles", "LIST ROLES", ErrUnsupported, "LIST"},
		{"list permissions", "LIST ALL PERMISSIONS OF bob", ErrUnsupported, "LIST"},
		{"describe keyspace", "DESCRIBE KEYSPACE server0", ErrUnsupported, "DESCRIBE KEYSPACE"},
		{"desc schema", "DESC SCHEMA", ErrUnsupported, "DESCRIBE TABLES"},
		{"describe alone", "DESCRIBE", ErrSyntax, "DESCRIBE TABLE <name>"},
		{"describe tables argument", "DESCRIBE TABLES t", ErrSyntax, "no argument"},
		{"describe table no name", "DESCRIBE TABLE", ErrSyntax, "a table name after DESCRIBE TABLE"},
		{"describe table two names", "DESCRIBE TABLE t u", ErrSyntax, "one table name"},
		{"describe table other keyspace", "DESCRIBE TABLE ks2.t", ErrKeyspace, "ks2.t"},
		{"describe table system", "DESC TABLE system_schema.tables", ErrKeyspace, "system keyspaces"},
		{"create function", "CREATE FUNCTION f (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'", ErrUnsupported, "CREATE FUNCTION"},
		{"create or replace function", "CREATE OR REPLACE FUNCTION f (a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS $$return a;$$", ErrUnsupported, "CREATE OR REPLACE FUNCTION"},
		{"drop function", "DROP FUNCTION IF EXISTS f", ErrUnsupported, "DROP FUNCTION"},
		{"create aggregate", "CREATE AGGREGATE a (int) SFUNC f STYPE int", ErrUnsupported, "CREATE AGGREGATE"},
		{"drop aggregate", "DROP AGGREGATE a", ErrUnsupported, "DROP AGGREGATE"},
		{"create view", "CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k)", ErrUnsupported, "CREATE MATERIALIZED VIEW"},
		{"alter view", "ALTER MATERIALIZED VIEW v WITH comment = 'x'", ErrUnsupported, "ALTER MATERIALIZED VIEW"},
		{"drop view", "DROP MATERIALIZED VIEW v", ErrUnsupported, "DROP MATERIALIZED VIEW"},
		{"create trigger", "CREATE TRIGGER tr ON t USING 'x'", ErrUnsupported, "CREATE TRIGGER"},
		{"drop trigger", "DROP TRIGGER tr ON t", ErrUnsupported, "DROP TRIGGER"},
		{"add identity", "ADD IDENTITY 'x' TO ROLE 'bob'", ErrUnsupported, "ADD IDENTITY"},
		{"drop identity", "DROP IDENTITY 'x'", ErrUnsupported, "DROP IDENTITY"},

		// Reads naming other keyspaces.
		{"select other keyspace", "SELECT * FROM server1.t", ErrKeyspace, `statement names keyspace "server1": Chorus runs every statement in the replica's own keyspace ("server0")`},
		{"select other keyspace quoted", `SELECT * FROM "Server0".t`, ErrKeyspace, `"Server0"`},
		{"select system", "SELECT * FROM system.local", ErrKeyspace, `statement names keyspace "system": system keyspaces are not available`},
		{"select system upper", "SELECT * FROM SYSTEM.peers", ErrKeyspace, `"system"`},
		{"select system quoted", `SELECT * FROM "system".local`, ErrKeyspace, `"system"`},
		{"select system_schema", "SELECT * FROM system_schema.tables", ErrKeyspace, "system_schema"},
		{"select system_auth", "SELECT * FROM system_auth.roles", ErrKeyspace, "system_auth"},
		{"select system_distributed", "SELECT * FROM system_distributed.x", ErrKeyspace, ""},
		{"select system_traces", "SELECT * FROM system_traces.sessions", ErrKeyspace, ""},
		{"select system_views", "SELECT * FROM system_views.clients", ErrKeyspace, ""},
		{"select system_virtual_schema", "SELECT * FROM system_virtual_schema.tables", ErrKeyspace, ""},
		{"select other function", "SELECT server1.f(a) FROM t", ErrKeyspace, "server1.f"},
		{"select other function in where", "SELECT * FROM t WHERE k = other.f(1)", ErrKeyspace, "other.f"},

		// Writes naming any keyspace.
		{"insert qualified", "INSERT INTO server0.t (k) VALUES (1)", ErrKeyspace, `statement names keyspace "server0": Chorus applies every write to each replica's own keyspace, so a write must use unqualified names; write t instead of server0.t`},
		{"insert other", "INSERT INTO server1.t (k) VALUES (1)", ErrKeyspace, `"server1"`},
		{"insert quoted", `INSERT INTO "Ks".t (k) VALUES (1)`, ErrKeyspace, `statement names keyspace "Ks"`},
		{"insert system", "INSERT INTO system.local (key) VALUES ('x')", ErrKeyspace, `statement names keyspace "system": system keyspaces`},
		{"insert type hint", "INSERT INTO t (k, a) VALUES (1, (other.addr){city: 'x'})", ErrKeyspace, "other.addr"},
		{"insert udf", "INSERT INTO t (k, a) VALUES (1, other.f(2))", ErrKeyspace, "other.f"},
		{"insert own udf qualified", "INSERT INTO t (k, a) VALUES (1, server0.f(2))", ErrKeyspace, "server0.f"},
		{"update qualified", "UPDATE server0.t SET v = 1 WHERE k = 1", ErrKeyspace, "server0.t"},
		{"update quoted qualified", `UPDATE "server0"."T" SET v = 1 WHERE k = 1`, ErrKeyspace, `"server0"."T"`},
		{"update type hint in brackets", "UPDATE t SET l = l + [(ks2.addr){city: 'x'}] WHERE k = 1", ErrKeyspace, "ks2.addr"},
		{"update udf", "UPDATE t SET v = ks2.f(1) WHERE k = 1", ErrKeyspace, "ks2.f"},
		{"delete qualified", "DELETE FROM server1.t WHERE k = 1", ErrKeyspace, "server1.t"},
		{"delete columns qualified", "DELETE a.b FROM ks2.t WHERE k = 1", ErrKeyspace, "ks2.t"},
		{"truncate qualified", "TRUNCATE ks2.t", ErrKeyspace, "ks2.t"},
		{"truncate table qualified", "TRUNCATE TABLE server0.t", ErrKeyspace, "server0.t"},
		{"create table qualified", "CREATE TABLE ks2.t (k int PRIMARY KEY)", ErrKeyspace, "ks2.t"},
		{"create table if not exists qualified", "CREATE TABLE IF NOT EXISTS ks2.t (k int PRIMARY KEY)", ErrKeyspace, "ks2.t"},
		{"create table qualified udt", "CREATE TABLE t (k int PRIMARY KEY, a frozen<ks2.addr>)", ErrKeyspace, "ks2.addr"},
		{"create table udf mask", "CREATE TABLE t (k int PRIMARY KEY, s text MASKED WITH ks2.mask(1))", ErrKeyspace, "ks2.mask"},
		{"alter table qualified", "ALTER TABLE ks2.t ADD x int", ErrKeyspace, "ks2.t"},
		{"alter table if exists qualified", "ALTER TABLE IF EXISTS ks2.t DROP x", ErrKeyspace, "ks2.t"},
		{"alter table add qualified udt", "ALTER TABLE t ADD a ks2.addr", ErrKeyspace, "ks2.addr"},
		{"drop table qualified", "DROP TABLE IF EXISTS system_auth.roles", ErrKeyspace, "system_auth"},
		{"create type qualified", "CREATE TYPE IF NOT EXISTS ks2.addr (city text)", ErrKeyspace, "ks2.addr"},
		{"create type nested qualified", "CREATE TYPE a (b frozen<ks2.c>)", ErrKeyspace, "ks2.c"},
		{"alter type qualified", "ALTER TYPE ks2.addr ADD zip int", ErrKeyspace, "ks2.addr"},
		{"drop type qualified", "DROP TYPE ks2.addr", ErrKeyspace, "ks2.addr"},
		{"create index on qualified", "CREATE INDEX ON ks2.t (v)", ErrKeyspace, "ks2.t"},
		{"create index named on qualified", "CREATE INDEX IF NOT EXISTS idx ON \"Ks\".t (keys(m))", ErrKeyspace, `"Ks".t`},
		{"create custom index qualified", "CREATE CUSTOM INDEX idx ON ks2.t (v) USING 'sai'", ErrKeyspace, "ks2.t"},
		{"drop index qualified", "DROP INDEX IF EXISTS ks2.idx", ErrKeyspace, "ks2.idx"},
		{"drop index own qualified", "DROP INDEX server0.idx", ErrKeyspace, "server0.idx"},
		{"batch qualified insert", "BEGIN BATCH INSERT INTO t (k) VALUES (1); INSERT INTO ks2.t (k) VALUES (1); APPLY BATCH", ErrKeyspace, "ks2.t"},
		{"batch qualified update", "BEGIN UNLOGGED BATCH UPDATE server0.t SET v = 1 WHERE k = 1 APPLY BATCH", ErrKeyspace, "server0.t"},
		{"batch qualified delete", "BEGIN BATCH DELETE FROM system.t WHERE k = 1; APPLY BATCH", ErrKeyspace, "system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Parse(tt.in, ks)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) = %+v, %v; want %v", tt.in, st, err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) error %q does not contain %q", tt.in, err, tt.msg)
			}
			if !sameStatement(st, Statement{}) {
				t.Errorf("Parse(%q) returned %+v with an error", tt.in, st)
			}
		})
	}
}

// TestParseSystemKeyspaceIsNeverOwn checks that a replica configured with a
// system keyspace's name still cannot read it.
func TestParseSystemKeyspaceIsNeverOwn(t *testing.T) {
	if _, err := Parse("SELECT * FROM system.local", "system"); !errors.Is(err, ErrKeyspace) {
		t.Fatalf("got %v, want ErrKeyspace", err)
	}
	if _, err := Parse("SELECT system.f(a) FROM t", "system"); err != nil {
		t.Fatalf("native system function: %v", err)
	}
}

// TestParseExactMessages pins the wording of a few messages a user sees.
func TestParseExactMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT * FROM system.local",
			`statement names keyspace "system": system keyspaces are not available through Chorus, which runs every statement in the replica's own keyspace (found system.local)`},
		{"SELECT * FROM other.t",
			`statement names keyspace "other": Chorus runs every statement in the replica's own keyspace ("server0"); remove the keyspace qualifier from other.t`},
		{"INSERT INTO other.t (k) VALUES (1)",
			`statement names keyspace "other": Chorus applies every write to each replica's own keyspace, so a write must use unqualified names; write t instead of other.t`},
		{"DROP KEYSPACE other",
			`unsupported statement: DROP KEYSPACE: Chorus manages keyspaces itself (each replica owns one and runs every statement in it); use unqualified table names in your own statements`},
		{"GRANT ALL ON t TO bob",
			`unsupported statement: Chorus does not run GRANT statements; Chorus supports SELECT, INSERT, UPDATE, DELETE, BATCH, TRUNCATE, CREATE, ALTER and DROP of TABLE, TYPE and INDEX, and DESCRIBE TABLES and DESCRIBE TABLE <name>`},
		{"", `empty statement: the request holds no CQL statement, only whitespace, comments or ';'`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in, ks)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestIsSystemKeyspace(t *testing.T) {
	for _, name := range []string{"system", "SYSTEM", "system_schema", "system_auth", "system_distributed", "system_traces", "system_views", "system_virtual_schema"} {
		if !IsSystemKeyspace(name) {
			t.Errorf("IsSystemKeyspace(%q) = false", name)
		}
	}
	for _, name := range []string{"", "server0", "systems", "system_foo", "my_system"} {
		if IsSystemKeyspace(name) {
			t.Errorf("IsSystemKeyspace(%q) = true", name)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		k             Kind
		name          string
		write, schema bool
	}{
		{KindSelect, "SELECT", false, false},
		{KindInsert, "INSERT", true, false},
		{KindUpdate, "UPDATE", true, false},
		{KindDelete, "DELETE", true, false},
		{KindBatch, "BATCH", true, false},
		{KindTruncate, "TRUNCATE", true, true},
		{KindCreateTable, "CREATE TABLE", true, true},
		{KindAlterTable, "ALTER TABLE", true, true},
		{KindDropTable, "DROP TABLE", true, true},
		{KindCreateType, "CREATE TYPE", true, true},
		{KindAlterType, "ALTER TYPE", true, true},
		{KindDropType, "DROP TYPE", true, true},
		{KindCreateIndex, "CREATE INDEX", true, true},
		{KindDropIndex, "DROP INDEX", true, true},
		{KindDescribe, "DESCRIBE", false, false},
		{0, "Kind(0)", false, false},
		{99, "Kind(99)", false, false},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.name {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.k), got, tt.name)
		}
		if got := tt.k.IsWrite(); got != tt.write {
			t.Errorf("%v.IsWrite() = %v", tt.k, got)
		}
		if got := tt.k.IsSchema(); got != tt.schema {
			t.Errorf("%v.IsSchema() = %v", tt.k, got)
		}
	}
}

// TestParseKindString checks that every Kind's String is how its
// statements begin, so messages built from it read as CQL.
func TestParseKindString(t *testing.T) {
	stmts := map[Kind]string{
		KindSelect: "SELECT * FROM t", KindInsert: "INSERT INTO t (k) VALUES (1)",
		KindUpdate: "UPDATE t SET v = 1 WHERE k = 1", KindDelete: "DELETE FROM t WHERE k = 1",
		KindBatch: "BEGIN BATCH APPLY BATCH", KindTruncate: "TRUNCATE t",
		KindCreateTable: "CREATE TABLE t (k int PRIMARY KEY)", KindAlterTable: "ALTER TABLE t ADD v int",
		KindDropTable: "DROP TABLE t", KindCreateType: "CREATE TYPE a (b int)",
		KindAlterType: "ALTER TYPE a ADD c int", KindDropType: "DROP TYPE a",
		KindCreateIndex: "CREATE INDEX ON t (v)", KindDropIndex: "DROP INDEX i",
		KindDescribe: "DESCRIBE TABLES",
	}
	for k := KindSelect; k <= KindDescribe; k++ {
		st, err := Parse(stmts[k], ks)
		if err != nil || st.Kind != k {
			t.Errorf("Parse(%q) = %v, %v; want %v", stmts[k], st.Kind, err, k)
			continue
		}
		if k != KindBatch && !strings.HasPrefix(st.Text, k.String()) {
			t.Errorf("%q does not start with %q", st.Text, k.String())
		}
	}
}

func TestParseBatchSplice(t *testing.T) {
	// The caller may splice a statement in before APPLY BATCH.
	st, err := Parse("BEGIN BATCH INSERT INTO t (k) VALUES (1) APPLY BATCH;", ks)
	if err != nil {
		t.Fatal(err)
	}
	spliced := st.Text[:st.ApplyOffset] + "INSERT INTO applied (id, seq) VALUES (1, 2); " + st.Text[st.ApplyOffset:]
	st2, err := Parse(spliced, ks)
	if err != nil {
		t.Fatalf("spliced batch %q: %v", spliced, err)
	}
	if st2.Kind != KindBatch || st2.Text[st2.ApplyOffset:] != "APPLY BATCH" {
		t.Fatalf("spliced batch parsed as %+v", st2)
	}
}
