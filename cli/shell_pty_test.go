package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/chorusdb/chorus/chorustest"
)

// expectWithin is how long the screen may take to show what is expected.
const expectWithin = 60 * time.Second

var (
	chorusOnce sync.Once
	chorusBin  string
	chorusErr  error
)

// chorusBinary builds cmd/chorus once per test process.
func chorusBinary(t *testing.T) string {
	t.Helper()
	chorusOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			chorusErr = err
			return
		}
		dir, err := os.MkdirTemp("", "chorus-cli-")
		if err != nil {
			chorusErr = err
			return
		}
		chorusBin = filepath.Join(dir, "chorus")
		cmd := exec.Command("go", "build", "-o", chorusBin, "./cmd/chorus")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
		if out, err := cmd.CombinedOutput(); err != nil {
			chorusErr = fmt.Errorf("building chorus: %v\n%s", err, out)
		}
	})
	if chorusErr != nil {
		t.Fatal(chorusErr)
	}
	return chorusBin
}

// screen is what a program on a pseudo-terminal has printed, read as a
// person reads it: without carriage returns and terminal control sequences.
type screen struct {
	t      *testing.T
	tty    *os.File
	mu     sync.Mutex
	raw    strings.Builder
	seen   int           // Expect looks for text after this offset of the clean text
	update chan struct{} // signalled after each read
	closed bool
}

var controlSeq = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

func newScreen(t *testing.T, tty *os.File) *screen {
	s := &screen{t: t, tty: tty, update: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			s.mu.Lock()
			s.raw.Write(buf[:n])
			s.closed = err != nil
			s.mu.Unlock()
			select {
			case s.update <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// text is the screen so far, cleaned.
func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return controlSeq.ReplaceAllString(s.raw.String(), "")
}

// expect waits until want appears after what earlier expects matched, and
// moves past it.
func (s *screen) expect(want string) {
	s.t.Helper()
	s.expectMatch(regexp.MustCompile(regexp.QuoteMeta(want)))
}

// expectTable is expect for a table as chorus query prints it, whatever
// seq its footer names: two reads of the same rows can be answered at
// different applied seqs (a later write to other rows, a barrier).
func (s *screen) expectTable(want string) {
	s.t.Helper()
	re := regexp.MustCompile(`at seq [0-9]+`).ReplaceAllLiteralString(regexp.QuoteMeta(want), `at seq [0-9]+`)
	s.expectMatch(regexp.MustCompile(re))
}

// expectMatch is expect for a regular expression; it returns the match.
func (s *screen) expectMatch(re *regexp.Regexp) string {
	s.t.Helper()
	deadline := time.NewTimer(expectWithin)
	defer deadline.Stop()
	for {
		text := s.text()
		if loc := re.FindStringIndex(text[s.seen:]); loc != nil {
			m := text[s.seen+loc[0] : s.seen+loc[1]]
			s.seen += loc[1]
			return m
		}
		select {
		case <-s.update:
		case <-deadline.C:
			s.t.Fatalf("the screen does not show %q within %s; after what was expected it shows:\n%s", re, expectWithin, text[s.seen:])
		}
	}
}

// typeKeys sends keys as a person types them.
func (s *screen) typeKeys(keys string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, keys); err != nil {
		s.t.Fatalf("typing %q: %v", keys, err)
	}
}

// cooked waits until the terminal is out of raw mode: the shell is no
// longer reading a line but running a statement, so Ctrl-C is SIGINT.
func (s *screen) cooked() {
	s.t.Helper()
	chorustest.Eventually(s.t, expectWithin, func() error {
		tio, err := unix.IoctlGetTermios(int(s.tty.Fd()), unix.TCGETS)
		if err != nil {
			return err
		}
		if tio.Lflag&unix.ISIG == 0 {
			return errors.New("the terminal is still in raw mode")
		}
		return nil
	})
}

// TestShellOnATerminal types a session into chorus shell on a
// pseudo-terminal, against three workers, and reads the screen.
func TestShellOnATerminal(t *testing.T) {
	c := chorustest.StartCluster(t, 3)
	bin := chorusBinary(t)
	dir := t.TempDir()
	history := filepath.Join(dir, "history")
	source := filepath.Join(dir, "more.cql")
	if err := os.WriteFile(source, []byte("-- rows from a file; one statement spans lines\nINSERT INTO grade (id, events, note)\n  VALUES (8, [], 'from the file');\nSELECT id, note FROM grade WHERE id = 8;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	global := []string{"--nats", c.URL, "--prefix", c.Prefix}
	cmd := exec.Command(bin, append(global, "shell", "--server", "server1", "--history", history)...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 250})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	s := newScreen(t, tty)
	// query is what chorus query prints for stmt, to compare the shell's
	// tables with.
	query := func(stmt string) string {
		t.Helper()
		r := chorus(t, nil, "", append(global, "query", "--server", "server1", stmt)...)
		r.want(t, exitOK)
		return r.stdout
	}

	s.expect("Connected to Chorus at " + c.URL)
	s.expect("chorus> ")

	// A statement over two lines; the second gets the continuation prompt.
	s.typeKeys("CREATE TABLE grade (id int PRIMARY KEY,\r")
	s.expect("   ...> ")
	s.typeKeys("  events list<int>, note text);\r")
	s.expectMatch(regexp.MustCompile(`SUCCESS seq=\d+ server=server\d\n`))
	s.expect("chorus> ")
	s.typeKeys("INSERT INTO grade (id, events, note) VALUES (7, [1, 2], 'a;b');\r")
	s.expectMatch(regexp.MustCompile(`SUCCESS seq=\d+ server=server\d\n`))
	s.expect("chorus> ")

	// A SELECT prints its table as chorus query does.
	sel := "SELECT id, events, note FROM grade;"
	s.typeKeys(sel + "\r")
	table := query(sel)
	if !strings.Contains(table, "a;b") {
		t.Fatalf("chorus query printed %q", table)
	}
	s.expectTable(table)
	s.expect("chorus> ")

	// Up arrow recalls the SELECT; Enter runs it again.
	s.typeKeys("\x1b[A")
	s.expect(sel)
	s.typeKeys("\r")
	s.expectTable(table)
	s.expect("chorus> ")

	// DESCRIBE, answered by the worker, printed as chorus query prints it.
	s.typeKeys("DESCRIBE TABLES\r")
	s.expect("name\ngrade\n(1 row, server1)\n")
	s.expect("chorus> ")
	s.typeKeys("desc table grade\r")
	s.expect("CREATE TABLE grade (\n    id int,\n    events list<int>,\n    note text,\n    PRIMARY KEY (id)\n);\n\n")
	s.expect(query("DESCRIBE TABLE grade"))
	s.expect("chorus> ")

	// CONSISTENCY shows, sets and refuses.
	s.typeKeys("CONSISTENCY\r")
	s.expect("Consistency level is ALL.\n")
	s.typeKeys("CONSISTENCY one\r")
	s.expect("Consistency level set to ONE.\n")
	s.typeKeys("CONSISTENCY quorum\r")
	s.expect(`consistency level "quorum": use ALL`)
	s.expect("chorus> ")

	// TRACING ON: a trace line after the statement.
	s.typeKeys("TRACING ON\r")
	s.expect("Tracing is on")
	s.expect("chorus> ")
	s.typeKeys("UPDATE grade SET events = events + [3] WHERE id = 7;\r")
	s.expectMatch(regexp.MustCompile(`SUCCESS seq=\d+ server=server\d\ntrace: round trip [0-9.]+(µs|ms|s), server server\d, seq \d+\n`))
	s.typeKeys("TRACING OFF\r")
	s.expect("Tracing is off.\n")
	s.expect("chorus> ")

	// SOURCE runs a file's statements.
	s.typeKeys("SOURCE '" + source + "'\r")
	s.expectMatch(regexp.MustCompile(`SUCCESS seq=\d+ server=server\d\n`))
	s.expectTable(query("SELECT id, note FROM grade WHERE id = 8;"))
	s.expect("chorus> ")

	// \status, as chorus status prints it.
	s.typeKeys(`\status` + "\r")
	s.expect("leader:")
	s.expectMatch(regexp.MustCompile(`WORKER +STATE +APPLIED +LAG +LAST SEEN +STALLED\n(server\d +live .*\n){3}`))
	s.expect("chorus> ")

	// Ctrl-C while typing drops the statement, all its lines: the next
	// one runs alone.
	s.typeKeys("SELECT * FROM nope\r")
	s.expect("   ...> ")
	s.typeKeys("WHERE")
	s.expect("WHERE")
	s.typeKeys("\x03")
	s.expect("chorus> ")
	s.typeKeys("SELECT note FROM grade WHERE id = 7;\r")
	s.expectTable("note\na;b\n(1 row, server1 at seq 1)\n")
	s.expect("chorus> ")

	// Ctrl-C while a statement runs cancels it: with every worker gone the
	// SELECT would retry until its timeout.
	for _, id := range c.IDs {
		c.Stop(id)
	}
	s.typeKeys("SELECT * FROM grade;\r")
	s.cooked()
	s.typeKeys("\x03")
	s.expect("Cancelled (Ctrl-C).\n")
	s.expect("chorus> ")
	if strings.Contains(s.text(), "ERROR") {
		t.Errorf("the session shows an error:\n%s", s.text())
	}

	// Ctrl-D leaves.
	s.typeKeys("\x04")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("chorus shell ended with %v; screen:\n%s", err, s.text())
		}
	case <-time.After(expectWithin):
		t.Fatalf("Ctrl-D did not end the shell; screen:\n%s", s.text())
	}
	if os.Getenv("CHORUS_TEST_SCREEN") != "" {
		t.Logf("screen:\n%s", s.text())
	}
	b, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "CREATE TABLE grade (id int PRIMARY KEY, events list<int>, note text);\n") {
		t.Errorf("the history file does not hold the two-line CREATE TABLE as one entry:\n%s", b)
	}
}
