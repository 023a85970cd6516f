package cql

import (
	"strconv"
	"testing"
	"time"
)

func benchStmt(i int) string {
	return "UPDATE bench_list SET events = events + [" + strconv.Itoa(i) + "] WHERE id = " + strconv.Itoa(i%64)
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Parse(benchStmt(i), "server0"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRewrite(b *testing.B) {
	b.ReportAllocs()
	i := 0
	at := time.Now()
	for b.Loop() {
		if _, _, err := Rewrite(benchStmt(i), at, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
