// Package shell is chorus shell: an interactive CQL shell over NATS, as
// cqlsh is over Cassandra's native protocol. It reads lines (with editing
// and history on a terminal), collects them into statements ended by ';',
// answers its own commands (CONSISTENCY, TRACING, SOURCE, \status, HELP,
// EXIT) and hands each statement to a Backend, which sends it to the
// cluster and prints the reply. The package holds no NATS code: package cli
// provides the Backend, so the shell prints exactly what chorus query and
// chorus exec print.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ErrInterrupt is what a LineReader returns for Ctrl-C while typing.
var ErrInterrupt = errors.New("shell: interrupted")

// LineReader reads the lines a person types.
type LineReader interface {
	// ReadLine shows prompt and returns the next line without its newline;
	// ErrInterrupt for Ctrl-C, io.EOF for Ctrl-D on an empty line or the
	// end of the input.
	ReadLine(prompt string) (string, error)
	// AddHistory remembers a statement or command for recall (up arrow).
	AddHistory(entry string)
}

// Request is one statement for the Backend.
type Request struct {
	Stmt  string
	Read  bool   // SELECT or DESCRIBE: answered by one worker; otherwise a write
	Level string // the consistency level (CONSISTENCY), as typed, lower case
}

// Trace is what TRACING ON shows after a statement.
type Trace struct {
	Elapsed time.Duration // the round trip, retries included
	Server  string        // the worker that answered, "" if none did
	Seq     uint64        // the sequence the reply names; 0 if none
}

// Backend runs statements and commands on the cluster.
type Backend interface {
	// Run sends r and prints the reply to out (rows, a write's SUCCESS
	// line) or the error to errOut. It returns when ctx is done at the
	// latest.
	Run(ctx context.Context, r Request, out, errOut io.Writer) Trace
	// Status prints the cluster's status, as chorus status does.
	Status(ctx context.Context, out, errOut io.Writer)
	// CheckLevel reports whether level is a consistency level the shell
	// can send, and if not, why.
	CheckLevel(level string) error
}

// The prompts: a new statement, and a statement's next line.
const (
	Prompt         = "chorus> "
	PromptContinue = "   ...> "
)

// DefaultLevel is the consistency level a session starts with.
const DefaultLevel = "all"

// maxSourceDepth bounds SOURCE within SOURCE, so a file that sources
// itself stops with an error.
const maxSourceDepth = 8

// Config is what a Shell uses.
type Config struct {
	Backend  Backend
	In       LineReader
	Out, Err io.Writer
	// Interrupts receives a value for each Ctrl-C that arrives while a
	// statement runs (SIGINT: a terminal is not in raw mode then). It
	// cancels that statement; without Interactive it also ends the shell.
	Interrupts <-chan struct{}
	// Interactive is set when a person types (stdin is a terminal): Ctrl-C
	// while a statement runs cancels it and the shell goes on.
	Interactive bool
	// ReadFile reads SOURCE's files; os.ReadFile if nil.
	ReadFile func(string) ([]byte, error)
}

// Shell is one session.
type Shell struct {
	cfg      Config
	level    string
	tracing  bool
	split    Splitter
	typed    []string // the lines of the pending statement, for history
	stopping bool     // an interrupt ended a non-interactive session
	failed   bool     // some statement or command failed
}

// New returns a shell at DefaultLevel with tracing off.
func New(cfg Config) *Shell {
	if cfg.ReadFile == nil {
		cfg.ReadFile = os.ReadFile
	}
	return &Shell{cfg: cfg, level: DefaultLevel}
}

// SetLevel sets the consistency level, as CONSISTENCY level does (the
// caller has checked it).
func (sh *Shell) SetLevel(level string) { sh.level = level }

// Run reads and runs lines until EXIT, Ctrl-D, the end of the input or
// ctx's end. It returns false if a statement or command failed (for the
// exit status of a script) or an interrupt ended it.
func (sh *Shell) Run(ctx context.Context) bool {
	for ctx.Err() == nil && !sh.stopping {
		prompt := Prompt
		if sh.split.Pending() {
			prompt = PromptContinue
		}
		line, err := sh.cfg.In.ReadLine(prompt)
		switch {
		case errors.Is(err, ErrInterrupt): // Ctrl-C while typing: drop the statement
			sh.split.Reset()
			sh.typed = nil
			continue
		case errors.Is(err, io.EOF):
			if sh.cfg.Interactive {
				fmt.Fprintln(sh.cfg.Out)
			} else if sh.split.Pending() {
				sh.failed = true
				fmt.Fprintln(sh.cfg.Err, "the input ends inside a statement; end it with ';'")
			}
			return !sh.failed
		case err != nil:
			fmt.Fprintf(sh.cfg.Err, "reading input: %v\n", err)
			return false
		}
		if sh.line(ctx, line, &sh.split, 0, true) {
			return !sh.failed
		}
	}
	return !sh.failed && !sh.stopping
}

// line handles one line read into split (the session's, or a SOURCE
// file's) and reports whether the shell is to end (EXIT).
func (sh *Shell) line(ctx context.Context, line string, split *Splitter, depth int, typed bool) bool {
	if !split.Pending() {
		if cmd, ok := parseCommand(line); ok {
			if typed {
				sh.cfg.In.AddHistory(strings.TrimSpace(line))
			}
			return sh.command(ctx, cmd, depth)
		}
	}
	if typed && strings.TrimSpace(line) != "" {
		sh.typed = append(sh.typed, strings.TrimSpace(line))
	}
	for _, stmt := range split.Feed(line) {
		if sh.stopping {
			break
		}
		sh.statement(ctx, stmt)
	}
	if typed && !split.Pending() && len(sh.typed) > 0 {
		sh.cfg.In.AddHistory(strings.Join(sh.typed, " "))
		sh.typed = nil
	}
	return false
}

// command runs a shell command and reports whether the shell is to end.
func (sh *Shell) command(ctx context.Context, cmd command, depth int) bool {
	out, errOut := sh.cfg.Out, sh.cfg.Err
	if cmd.err != nil {
		sh.failed = true
		fmt.Fprintf(errOut, "%v\n", cmd.err)
		return false
	}
	switch cmd.kind {
	case cmdExit:
		return true
	case cmdHelp:
		if err := help(out, cmd.arg); err != nil {
			sh.failed = true
			fmt.Fprintln(errOut, err)
		}
	case cmdConsistency:
		if cmd.arg == "" {
			fmt.Fprintf(out, "Consistency level is %s.\n", strings.ToUpper(sh.level))
			return false
		}
		if err := sh.cfg.Backend.CheckLevel(cmd.arg); err != nil {
			sh.failed = true
			fmt.Fprintln(errOut, err)
			return false
		}
		sh.level = cmd.arg
		fmt.Fprintf(out, "Consistency level set to %s.\n", strings.ToUpper(sh.level))
	case cmdTracing:
		switch cmd.arg {
		case "ON":
			sh.tracing = true
			fmt.Fprintln(out, "Tracing is on: each statement is followed by its round trip, the worker that answered and the seq.")
		case "OFF":
			sh.tracing = false
			fmt.Fprintln(out, "Tracing is off.")
		default:
			fmt.Fprintf(out, "Tracing is %s.\n", map[bool]string{true: "on", false: "off"}[sh.tracing])
		}
	case cmdStatus:
		sh.cfg.Backend.Status(ctx, out, errOut)
	case cmdDescribe:
		sh.statement(ctx, cmd.arg)
	case cmdSource:
		sh.source(ctx, cmd.arg, depth+1)
	}
	return false
}

// source runs the statements and commands of a file, as if typed (without
// echo or history). EXIT in a file ends the file, not the shell.
func (sh *Shell) source(ctx context.Context, path string, depth int) {
	if depth > maxSourceDepth {
		sh.failed = true
		fmt.Fprintf(sh.cfg.Err, "SOURCE %s: files source each other more than %d deep; stopped\n", path, maxSourceDepth)
		return
	}
	data, err := sh.cfg.ReadFile(path)
	if err != nil {
		sh.failed = true
		fmt.Fprintf(sh.cfg.Err, "SOURCE: %v\n", err)
		return
	}
	var split Splitter
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if ctx.Err() != nil || sh.stopping || sh.line(ctx, strings.TrimSuffix(l, "\r"), &split, depth, false) {
			return
		}
	}
	if split.Pending() {
		sh.failed = true
		fmt.Fprintf(sh.cfg.Err, "SOURCE %s: the file ends inside a statement; end it with ';'\n", path)
	}
}

// statement runs one statement; Ctrl-C meanwhile cancels it.
func (sh *Shell) statement(ctx context.Context, stmt string) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for drained := false; !drained; { // a Ctrl-C from before is not for this statement...
		select {
		case <-sh.cfg.Interrupts:
			if !sh.cfg.Interactive { // ...but it stops a script
				fmt.Fprintln(sh.cfg.Err, "Interrupted (Ctrl-C).")
				sh.stopping = true
				return
			}
		default:
			drained = true
		}
	}
	done := make(chan struct{})
	interrupted := make(chan bool, 1)
	go func() {
		select {
		case <-sh.cfg.Interrupts:
			interrupted <- true
			cancel()
		case <-done:
			interrupted <- false
		}
	}()
	tr := sh.cfg.Backend.Run(sctx, Request{Stmt: stmt, Read: IsRead(stmt), Level: sh.level}, sh.cfg.Out, &failWriter{sh.cfg.Err, &sh.failed})
	close(done)
	if <-interrupted {
		fmt.Fprintln(sh.cfg.Err, "Cancelled (Ctrl-C).")
		sh.stopping = !sh.cfg.Interactive
	}
	if sh.tracing {
		fmt.Fprintln(sh.cfg.Out, traceLine(tr))
	}
}

// traceLine renders a Trace: "trace: round trip 2.31ms, server server1, seq 42".
func traceLine(t Trace) string {
	server, seq := t.Server, "-"
	if server == "" {
		server = "-"
	}
	if t.Seq > 0 {
		seq = fmt.Sprint(t.Seq)
	}
	return fmt.Sprintf("trace: round trip %s, server %s, seq %s", t.Elapsed.Round(10*time.Microsecond), server, seq)
}

// IsRead reports whether a statement (comments removed, as the Splitter
// gives it) is a read: SELECT or DESCRIBE. The worker classifies it again
// and has the last word.
func IsRead(stmt string) bool {
	stmt = strings.TrimSpace(stmt)
	n := 0
	for n < len(stmt) && isWordPart(stmt[n]) {
		n++
	}
	switch strings.ToUpper(stmt[:n]) {
	case "SELECT", "DESCRIBE", "DESC":
		return true
	}
	return false
}

// failWriter notes that something was written to standard error: the
// Backend's way of saying a statement failed.
type failWriter struct {
	w      io.Writer
	failed *bool
}

func (f *failWriter) Write(p []byte) (int, error) {
	*f.failed = true
	return f.w.Write(p)
}
