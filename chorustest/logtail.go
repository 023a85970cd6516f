package chorustest

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// tailLines is how much of the workers' logs a failing test prints: the
// last lines before the failure, which is where a stall or an error shows.
const tailLines = 400

// logTail keeps the last tailLines lines written to it (each slog record
// is one Write), so that a failing test can show what its workers said;
// with CHORUS_TEST_LOG set, everything goes to stderr as well.
type logTail struct {
	mu     sync.Mutex
	lines  []string // a ring of tailLines, oldest at next once full
	next   int
	total  int
	stderr io.Writer
}

func newLogTail() *logTail {
	l := &logTail{}
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		l.stderr = os.Stderr
	}
	return l
}

func (l *logTail) Write(p []byte) (int, error) {
	if l.stderr != nil {
		_, _ = l.stderr.Write(p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		l.total++
		if len(l.lines) < tailLines {
			l.lines = append(l.lines, string(line))
			continue
		}
		l.lines[l.next] = string(line)
		l.next = (l.next + 1) % tailLines
	}
	return len(p), nil
}

// String is the kept lines, oldest first, said to be a tail if earlier
// lines were written.
func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	if dropped := l.total - len(l.lines); dropped > 0 {
		b.WriteString("(the workers' last " + strconv.Itoa(len(l.lines)) + " log lines; " + strconv.Itoa(dropped) + " before them are not kept: CHORUS_TEST_LOG=1 shows all)\n")
	}
	for i := range l.lines {
		b.WriteString(l.lines[(l.next+i)%len(l.lines)])
		b.WriteByte('\n')
	}
	return b.String()
}
