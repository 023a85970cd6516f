package cql

import "errors"

// The errors of Parse and Rewrite. Each returned error wraps exactly one of
// them (test with errors.Is) and adds what was found and what to do, so its
// message can go to the client as it is.
var (
	// ErrEmpty is returned for a request with no statement: empty, only
	// whitespace, only comments, or only ';'.
	ErrEmpty = errors.New("empty statement")

	// ErrMultiple is returned for a request with more than one statement.
	// One trailing ';' is allowed; writes that must go together belong in
	// a BATCH.
	ErrMultiple = errors.New("more than one statement")

	// ErrSyntax is returned for text that cannot be a CQL statement: an
	// unterminated string, quoted name or comment, a character CQL does not
	// use, an unknown leading keyword, or a statement too malformed to check
	// (such as a DELETE without FROM).
	ErrSyntax = errors.New("syntax error")

	// ErrUnsupported is returned for statements Chorus does not replicate:
	// USE and keyspace DDL (Chorus manages keyspaces itself), and roles,
	// users, permissions, functions, aggregates, materialized views,
	// triggers, LIST, and DESCRIBE of anything but tables.
	ErrUnsupported = errors.New("unsupported statement")

	// ErrKeyspace is returned for a statement that names a keyspace it may
	// not touch: a write that names any keyspace (each replica applies it to
	// its own), or a read of another replica's or a system keyspace.
	ErrKeyspace = errors.New("statement names keyspace")

	// ErrNondeterministic is returned by Rewrite for a write whose result
	// would differ from replica to replica and that cannot be rewritten to
	// literal values (such as the string 'now' for a timestamp), or when
	// the write time cannot be represented.
	ErrNondeterministic = errors.New("non-deterministic statement")
)
