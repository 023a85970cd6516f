package chorustest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// logWriter is the log file name.log in dir, opened for the workers of a
// test (with CHORUS_TEST_LOG set, also copied to stderr); it is closed
// when the test ends.
func logWriter(t testing.TB, dir, name string) io.Writer {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatalf("creating the workers' log: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		return io.MultiWriter(f, os.Stderr)
	}
	return f
}

// logTails prints, for a test that failed, the last max bytes of each
// log name.log in dir: what its workers or servers said last. The whole
// logs are kept with CHORUS_TEST_KEEP_LOGS (keepLogs).
func logTails(t testing.TB, dir string, names []string, max int) {
	keepLogs(t, dir, names)
	if !t.Failed() {
		return
	}
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(dir, n+".log"))
		if len(b) > max {
			b = append([]byte("...\n"), b[len(b)-max:]...)
		}
		t.Logf("==== %s log (tail)\n%s", n, b)
	}
}
