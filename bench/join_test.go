package bench

import (
	"bytes"
	"strings"
	"testing"
)

func sampleJoin() *JoinReport {
	return &JoinReport{
		Keys: 10000, PerOrder: 16, Retain: 1000, DefaultRetain: 10000, DedupWindow: "24h0m0s", Command: "go run ./bench/cmd/joinbench",
		Results: []JoinResult{
			{Writes: 100000, Orders: 6250, LogEntries: 6255, LogBytes: 7_500_000, TrimmedBytes: 1_200_000, TrimmedFirstSeq: 5257,
				ReplaySeconds: 50, SnapshotRows: 10000, SnapshotBytes: 6_000_000, SnapshotSeconds: 1.5, JoinSeconds: 5, JoinEntries: 2},
			{Writes: 1000000, Orders: 62500, Error: "a replaying the log: a not live within 15m0s"},
		},
	}
}

func TestWriteJoinTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJoinTable(&b, sampleJoin()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 100,000 | 6,250 | 7.5 | 1.2 | 50 s | 2,000/s | 10,000 | 6.0 | 1.50 s | 5.00 s | 10.0× |",
		"| 1,000,000 | 62,500 | failed: a replaying the log: a not live within 15m0s |",
		"1,199 bytes per entry (75.0 MB per million writes)",
		"the default `CHORUS_LOG_RETAIN=10,000` keeps about 12.0 MB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestMarkdownJoinSection(t *testing.T) {
	d := sampleDoc()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "## Joining") {
		t.Error("a join section without a join report")
	}
	d.Join = sampleJoin()
	b.Reset()
	if err := WriteMarkdown(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "## Joining a cluster: snapshot or replay") || !strings.Contains(out, "go run ./bench/cmd/joinbench\n") {
		t.Errorf("no join section or command:\n%s", out)
	}
}
