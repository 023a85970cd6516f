package cql_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/chorusdb/chorus/cql"
)

func ExampleParse() {
	st, err := cql.Parse("BEGIN BATCH INSERT INTO t (k) VALUES (1) IF NOT EXISTS; APPLY BATCH;", "server0")
	fmt.Println(st.Kind, st.BatchType, st.Conditional, st.Kind.IsWrite(), err)
	fmt.Printf("%q\n", st.Text[st.ApplyOffset:])

	_, err = cql.Parse("SELECT * FROM system.local", "server0")
	fmt.Println(err)
	_, err = cql.Parse("INSERT INTO server0.t (k) VALUES (1)", "server0")
	fmt.Println(err)
	// Output:
	// BATCH LOGGED true true <nil>
	// "APPLY BATCH"
	// statement names keyspace "system": system keyspaces are not available through Chorus, which runs every statement in the replica's own keyspace (found system.local)
	// statement names keyspace "server0": Chorus applies every write to each replica's own keyspace, so a write must use unqualified names; write t instead of server0.t
}

func ExampleRewrite() {
	at := time.Date(2025, 11, 26, 9, 8, 7, 123456789, time.UTC)
	rnd := bytes.NewReader(bytes.Repeat([]byte{0x42}, 32)) // the leader uses crypto/rand
	out, changed, err := cql.Rewrite("INSERT INTO t (k, id, at, day) VALUES (now(), uuid(), currentTimestamp(), currentDate())", at, rnd)
	fmt.Println(out, changed, err)

	_, _, err = cql.Rewrite("INSERT INTO t (k, at) VALUES (1, 'now')", at, rnd)
	fmt.Println(err)
	// Output:
	// INSERT INTO t (k, id, at, day) VALUES ((timeuuid)6c258c07-caa7-11f0-8242-434242424242, (uuid)42424242-4242-4242-8242-424242424242, (timestamp)1764148087123, (date)'2025-11-26') true <nil>
	// non-deterministic statement: the string 'now' at byte 33 means the current time when it is stored in a timestamp, so every replica would store a different time; write currentTimestamp() instead, which Chorus replaces with the write's time (or, for the text "now", write blobAsText(0x6e6f77))
}
