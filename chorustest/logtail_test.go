package chorustest

import (
	"fmt"
	"strings"
	"testing"
)

// The tail keeps the last tailLines lines in order, however many more
// were written, and says how many it left out.
func TestLogTailKeepsTheLastLines(t *testing.T) {
	l := &logTail{}
	if got := l.String(); got != "" {
		t.Fatalf("empty tail: %q", got)
	}
	l.Write([]byte("a\nb\n"))
	if got := l.String(); got != "a\nb\n" {
		t.Fatalf("short tail: %q", got)
	}
	const written = 10 * tailLines
	for i := 2; i < written; i++ {
		fmt.Fprintf(l, "line %d\n", i)
	}
	lines := strings.Split(strings.TrimSuffix(l.String(), "\n"), "\n")
	if len(lines) != tailLines+1 {
		t.Fatalf("%d lines printed, want the note and %d", len(lines), tailLines)
	}
	if want := fmt.Sprintf("%d before them are not kept", written-tailLines); !strings.Contains(lines[0], want) {
		t.Fatalf("note %q does not say %q", lines[0], want)
	}
	for i, line := range lines[1:] {
		if want := fmt.Sprintf("line %d", written-tailLines+i); line != want {
			t.Fatalf("kept line %d is %q, want %q", i, line, want)
		}
	}
}
