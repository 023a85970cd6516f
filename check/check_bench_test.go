package check

import (
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// benchStmt is the shape of make bench's list append.
func benchStmt(i int) string {
	return "UPDATE bench_list SET events = events + [" + strconv.Itoa(i) + "] WHERE id = " + strconv.Itoa(i%64)
}

// BenchmarkReceive is the receiving worker's checks of one write
// (worker.admit: Statement, then Deterministic).
func BenchmarkReceive(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st, err := Statement([]byte(benchStmt(i)), "server0", MaxStatementBytes)
		if err != nil {
			b.Fatal(err)
		}
		if err := Deterministic(st, time.Now(), rand.Reader); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkForward is the leader's admission check of one FORWARD.
func BenchmarkForward(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := messages.Forward{RequestID: "req" + strconv.Itoa(i), Reply: "_INBOX.abcdefgh.12345", Stmt: benchStmt(i), Origin: "server1"}
		if _, err := Forward(f, subjects, time.Now(), rand.Reader); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
