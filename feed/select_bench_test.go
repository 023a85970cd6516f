package feed

import (
	"strconv"
	"testing"

	"github.com/chorusdb/chorus/messages"
)

// BenchmarkSelect is the feed's work for one ORDER of 64 list appends
// (make bench's shape): selecting the changes and encoding each one.
// Reported per write.
func BenchmarkSelect(b *testing.B) {
	const writes = 64
	stmts := make([]string, writes)
	for i := range stmts {
		stmts[i] = "UPDATE bench_list SET events = events + [" + strconv.Itoa(1000+i) + "] WHERE id = " + strconv.Itoa(i)
	}
	o := order(1, 5, messages.OrderWrite, stmts...)
	rec := records(nil, o)
	b.ReportAllocs()
	for b.Loop() {
		var c Cursor
		items, err := c.Select(o, rec)
		if err != nil || len(items) != writes {
			b.Fatalf("%d items, %v", len(items), err)
		}
		for _, it := range items {
			if _, err := Encode(it.Change); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*writes), "ns/write")
}
