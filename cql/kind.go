package cql

import "fmt"

// Kind is the class of a statement Chorus accepts.
type Kind int

// The statement kinds. The zero Kind is not a statement.
const (
	KindSelect Kind = iota + 1
	KindInsert
	KindUpdate
	KindDelete
	KindBatch
	KindTruncate
	KindCreateTable
	KindAlterTable
	KindDropTable
	KindCreateType
	KindAlterType
	KindDropType
	KindCreateIndex
	KindDropIndex
	// KindDescribe is DESCRIBE TABLES or DESCRIBE TABLE <name> (also DESC):
	// a question about the replica's own schema, answered by the worker
	// that receives it, never ordered.
	KindDescribe
)

var kindNames = [...]string{
	KindSelect:      "SELECT",
	KindInsert:      "INSERT",
	KindUpdate:      "UPDATE",
	KindDelete:      "DELETE",
	KindBatch:       "BATCH",
	KindTruncate:    "TRUNCATE",
	KindCreateTable: "CREATE TABLE",
	KindAlterTable:  "ALTER TABLE",
	KindDropTable:   "DROP TABLE",
	KindCreateType:  "CREATE TYPE",
	KindAlterType:   "ALTER TYPE",
	KindDropType:    "DROP TYPE",
	KindCreateIndex: "CREATE INDEX",
	KindDropIndex:   "DROP INDEX",
	KindDescribe:    "DESCRIBE",
}

func (k Kind) valid() bool { return k >= KindSelect && k <= KindDescribe }

// String returns the statement's leading keywords: "SELECT", "CREATE TABLE", ...
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// IsWrite reports whether statements of this kind change data or schema:
// every kind but SELECT and DESCRIBE. Writes are ordered and applied by
// every replica.
func (k Kind) IsWrite() bool { return k.valid() && k != KindSelect && k != KindDescribe }

// IsSchema reports whether the kind is TRUNCATE or CREATE/ALTER/DROP of a
// table, type or index: statements that cannot be put in a CQL BATCH.
func (k Kind) IsSchema() bool {
	return k == KindTruncate || (k >= KindCreateTable && k <= KindDropIndex)
}
