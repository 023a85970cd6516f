package chorustest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failedTB is a test that has failed, and keeps what is logged.
type failedTB struct {
	testing.TB
	logged []string
}

func (f *failedTB) Failed() bool { return true }
func (f *failedTB) Logf(format string, args ...any) {
	f.logged = append(f.logged, fmt.Sprintf(format, args...))
}

// A failing test prints the last max bytes of each log, however long the
// log is, and the whole of a short one; the file keeps every line.
func TestLogTailsPrintTheEnd(t *testing.T) {
	t.Setenv("CHORUS_TEST_KEEP_LOGS", "")
	dir := t.TempDir()
	w := logWriter(t, dir, "long")
	const max = 100
	for i := range 10 * max {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.log"), []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &failedTB{TB: t}
	logTails(f, dir, []string{"long", "short"}, max)
	all, _ := os.ReadFile(filepath.Join(dir, "long.log"))
	if n := strings.Count(string(all), "\n"); n != 10*max {
		t.Fatalf("the log file holds %d lines, want %d", n, 10*max)
	}
	want := []string{"==== long log (tail)\n...\n" + string(all[len(all)-max:]), "==== short log (tail)\na\nb\n"}
	if len(f.logged) != 2 || f.logged[0] != want[0] || f.logged[1] != want[1] {
		t.Fatalf("printed %q, want %q", f.logged, want)
	}
}
