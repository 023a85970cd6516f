// Package cql reads single CQL statements just enough for Chorus to
// replicate them: a small lexer, the statement's Kind, isolation checks
// (DESIGN invariant 4) and a rewriter for non-deterministic functions
// (invariant 3). It is pure code, without I/O, and never executes CQL.
//
// # Lexing
//
// The lexer follows Cassandra's: '...' strings (a quote inside is doubled),
// $$...$$ strings, "..." quoted names (case-sensitive; a " inside is doubled),
// comments (-- and // to the end of the line, /* ... */ unnested), numbers
// and durations, uuids, 0x blobs, identifiers and keywords
// (case-insensitive) and punctuation. Tokens keep their byte offsets so the
// rewriter splices the original text and leaves everything else as it was.
//
// # Isolation
//
// Parse rejects, before a statement is ordered: USE and keyspace DDL
// (Chorus manages keyspaces itself); roles, users, permissions, functions,
// aggregates, materialized views, triggers, LIST and DESCRIBE other than of
// the replica's tables (DESCRIBE TABLES and DESCRIBE TABLE <name> are
// KindDescribe, answered from the replica's own schema); a write that
// names any keyspace, since every replica applies it to its own keyspace;
// a SELECT that names another keyspace than the replica's; and any
// statement that names a system keyspace.
//
// # Rewriting
//
// Rewrite replaces each call of these Cassandra 5.0 native functions
// (names case-insensitive, optionally written system.f) with a literal
// computed from the leader's write time and randomness, with a type hint so
// the literal keeps the function's type:
//
//	now(), currentTimeUUID(), current_timeuuid()  (timeuuid)<version-1 uuid at the write time>
//	uuid()                                        (uuid)<random version-4 uuid>
//	currentTimestamp(), current_timestamp()       (timestamp)<milliseconds since the epoch>
//	currentDate(), current_date()                 (date)'YYYY-MM-DD'           (UTC)
//	currentTime(), current_time()                 (time)'HH:MM:SS.nnnnnnnnn'   (UTC)
//
// Each timeuuid of a statement is one 100 ns tick after the previous one,
// so they stay distinct and ordered. Functions of these values, such as
// toTimestamp(now()), toDate(now()) or minTimeuuid(...), are deterministic
// once their arguments are literals and are left alone.
//
// The string 'now' is also the current time when Cassandra stores it in a
// timestamp; Rewrite cannot know the column's type, so it rejects 'now' in
// INSERT, UPDATE, DELETE and BATCH (also as a JSON value) with
// ErrNondeterministic.
package cql
