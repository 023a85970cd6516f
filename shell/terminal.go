package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chzyer/readline"
)

// Terminal reads lines from a terminal with line editing and history
// (github.com/chzyer/readline: emacs keys, arrows, Ctrl-R search). The
// terminal is in raw mode only while a line is read, so a Ctrl-C while a
// statement runs arrives as SIGINT (Config.Interrupts).
type Terminal struct {
	rl *readline.Instance
}

// NewTerminal opens the process's terminal (standard input and output).
// History is kept in historyFile across sessions; "" keeps it in memory.
func NewTerminal(historyFile string) (*Terminal, error) {
	rl, err := readline.NewEx(&readline.Config{
		Prompt:                 Prompt,
		HistoryFile:            historyFile,
		DisableAutoSaveHistory: true, // whole statements are saved, not their lines
		HistorySearchFold:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("shell: opening the terminal: %w", err)
	}
	return &Terminal{rl: rl}, nil
}

// ReadLine implements LineReader.
func (t *Terminal) ReadLine(prompt string) (string, error) {
	t.rl.SetPrompt(prompt)
	line, err := t.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return line, ErrInterrupt
	}
	return line, err
}

// AddHistory implements LineReader. A history file that cannot be written
// loses the entry for later sessions only; the session keeps it.
func (t *Terminal) AddHistory(entry string) { _ = t.rl.SaveHistory(entry) }

// Close gives the terminal back as it was.
func (t *Terminal) Close() error { return t.rl.Close() }

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return readline.IsTerminal(int(f.Fd())) }

// Lines reads lines from a file or pipe: no prompt, no editing, no history
// (chorus shell < statements.cql).
type Lines struct{ sc *bufio.Scanner }

// NewLines reads r line by line; a line may hold up to 1 MiB, the largest
// statement a worker accepts.
func NewLines(r io.Reader) *Lines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20+1)
	return &Lines{sc: sc}
}

// ReadLine implements LineReader.
func (l *Lines) ReadLine(string) (string, error) {
	if l.sc.Scan() {
		return l.sc.Text(), nil
	}
	if err := l.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

// AddHistory implements LineReader: a script has none.
func (l *Lines) AddHistory(string) {}
