package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// script is a LineReader that hands out lines (or errors) in order and
// records prompts and history.
type script struct {
	lines   []any // string or error
	prompts []string
	history []string
}

func (s *script) ReadLine(prompt string) (string, error) {
	s.prompts = append(s.prompts, prompt)
	if len(s.lines) == 0 {
		return "", io.EOF
	}
	l := s.lines[0]
	s.lines = s.lines[1:]
	if err, ok := l.(error); ok {
		return "", err
	}
	return l.(string), nil
}

func (s *script) AddHistory(e string) { s.history = append(s.history, e) }

// fake is a Backend that records requests and answers "ran <stmt>"; a
// statement "SLOW" blocks until its context ends.
type fake struct {
	reqs    []Request
	started chan struct{}
}

func (f *fake) Run(ctx context.Context, r Request, out, errOut io.Writer) Trace {
	f.reqs = append(f.reqs, r)
	if r.Stmt == "SLOW" {
		close(f.started)
		<-ctx.Done()
		fmt.Fprintln(errOut, ctx.Err())
		return Trace{Elapsed: time.Second}
	}
	if strings.HasPrefix(r.Stmt, "BAD") {
		fmt.Fprintln(errOut, "ERROR CQL: bad (server1)")
		return Trace{Server: "server1"}
	}
	fmt.Fprintf(out, "ran %s\n", r.Stmt)
	return Trace{Elapsed: 1234567 * time.Nanosecond, Server: "server1", Seq: 42}
}

func (f *fake) Status(_ context.Context, out, _ io.Writer) { fmt.Fprintln(out, "leader: server0") }

func (f *fake) CheckLevel(l string) error {
	if l != "all" && l != "one" {
		return fmt.Errorf("consistency level %q: use ALL or ONE", l)
	}
	return nil
}

func run(t *testing.T, lines []any, files map[string]string, interrupts chan struct{}) (*fake, *script, string, string, bool) {
	t.Helper()
	f := &fake{started: make(chan struct{})}
	in := &script{lines: lines}
	var out, errOut bytes.Buffer
	sh := New(Config{Backend: f, In: in, Out: &out, Err: &errOut, Interactive: true, Interrupts: interrupts,
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
		}})
	ok := sh.Run(context.Background())
	return f, in, out.String(), errOut.String(), ok
}

func TestShellSession(t *testing.T) {
	f, in, out, errOut, ok := run(t, []any{
		"CREATE TABLE t (k int PRIMARY KEY,",
		"  v text);",
		"INSERT INTO t (k, v) VALUES (1, 'x'); SELECT * FROM t;",
		"SELECT * FROM t WHERE k = 1", // then Ctrl-C: dropped
		ErrInterrupt,
		"CONSISTENCY",
		"CONSISTENCY one",
		"CONSISTENCY linearizable",
		"TRACING ON",
		"INSERT INTO t (k, v) VALUES (2, 'y');",
		"TRACING OFF",
		"DESC TABLES",
		`\status`,
		"SOURCE 'f.cql'",
		"SOURCE 'missing.cql'",
		"EXIT",
		"SELECT * FROM never;",
	}, map[string]string{"f.cql": "-- a file\nINSERT INTO t (k, v)\n  VALUES (3, 'z');\nCONSISTENCY\nEXIT\nSELECT * FROM never;\n"}, nil)

	var stmts []string
	for _, r := range f.reqs {
		stmts = append(stmts, fmt.Sprintf("%s|%v|%s", r.Stmt, r.Read, r.Level))
	}
	want := []string{
		"CREATE TABLE t (k int PRIMARY KEY,\n  v text)|false|all",
		"INSERT INTO t (k, v) VALUES (1, 'x')|false|all",
		"SELECT * FROM t|true|all",
		"INSERT INTO t (k, v) VALUES (2, 'y')|false|one",
		"DESC TABLES|true|one",
		"INSERT INTO t (k, v)\n  VALUES (3, 'z')|false|one",
	}
	if !slices.Equal(stmts, want) {
		t.Errorf("statements sent:\n%q\nwant\n%q", stmts, want)
	}
	wantHistory := []string{
		"CREATE TABLE t (k int PRIMARY KEY, v text);",
		"INSERT INTO t (k, v) VALUES (1, 'x'); SELECT * FROM t;",
		"CONSISTENCY", "CONSISTENCY one", "CONSISTENCY linearizable", "TRACING ON",
		"INSERT INTO t (k, v) VALUES (2, 'y');", "TRACING OFF", "DESC TABLES", `\status`,
		"SOURCE 'f.cql'", "SOURCE 'missing.cql'", "EXIT",
	}
	if !slices.Equal(in.history, wantHistory) {
		t.Errorf("history:\n%q\nwant\n%q", in.history, wantHistory)
	}
	if want := []string{Prompt, PromptContinue, Prompt, Prompt, PromptContinue, Prompt}; !slices.Equal(in.prompts[:6], want) {
		t.Errorf("prompts %q, want %q", in.prompts[:6], want)
	}
	for _, s := range []string{
		"Consistency level is ALL.\n", "Consistency level set to ONE.\n",
		"trace: round trip 1.23ms, server server1, seq 42\n", "Tracing is off.\n",
		"leader: server0\n", "ran INSERT INTO t (k, v)\n  VALUES (3, 'z')\nConsistency level is ONE.\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Count(out, "trace:") != 1 {
		t.Errorf("want one trace line (TRACING ON for one statement):\n%s", out)
	}
	for _, s := range []string{`consistency level "linearizable": use ALL or ONE`, "SOURCE: open missing.cql: file does not exist"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("errors lack %q:\n%s", s, errOut)
		}
	}
	if ok {
		t.Error("Run reported success after failed commands")
	}
}

func TestShellCtrlCCancelsTheRunningStatement(t *testing.T) {
	interrupts := make(chan struct{}, 1)
	interrupts <- struct{}{} // an old Ctrl-C, from before the statement: ignored
	f := &fake{started: make(chan struct{})}
	go func() {
		<-f.started
		interrupts <- struct{}{}
	}()
	var out, errOut bytes.Buffer
	in := &script{lines: []any{"SLOW;", "SELECT * FROM t;"}}
	sh := New(Config{Backend: f, In: in, Out: &out, Err: &errOut, Interactive: true, Interrupts: interrupts})
	done := make(chan bool)
	go func() { done <- sh.Run(context.Background()) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Ctrl-C did not cancel the running statement")
	}
	if !strings.Contains(errOut.String(), "context canceled\nCancelled (Ctrl-C).\n") {
		t.Errorf("errors: %q", errOut.String())
	}
	if len(f.reqs) != 2 || !strings.Contains(out.String(), "ran SELECT * FROM t") {
		t.Errorf("the session did not go on after the cancel: %+v\n%s", f.reqs, out.String())
	}
}

func TestShellScriptStopsOnCtrlC(t *testing.T) {
	interrupts := make(chan struct{}, 1)
	f := &fake{started: make(chan struct{})}
	go func() {
		<-f.started
		interrupts <- struct{}{}
	}()
	var out, errOut bytes.Buffer
	in := &script{lines: []any{"SLOW; SELECT * FROM t;", "SELECT * FROM u;"}}
	sh := New(Config{Backend: f, In: in, Out: &out, Err: &errOut, Interrupts: interrupts})
	if sh.Run(context.Background()) {
		t.Error("an interrupted script reported success")
	}
	if len(f.reqs) != 1 {
		t.Errorf("statements after the interrupt ran: %+v", f.reqs)
	}
}

func TestShellScriptStopsOnCtrlCBetweenStatements(t *testing.T) {
	interrupts := make(chan struct{}, 1)
	interrupts <- struct{}{}
	f := &fake{started: make(chan struct{})}
	var out, errOut bytes.Buffer
	sh := New(Config{Backend: f, In: &script{lines: []any{"SELECT * FROM t;"}}, Out: &out, Err: &errOut, Interrupts: interrupts})
	if sh.Run(context.Background()) || len(f.reqs) != 0 || errOut.String() != "Interrupted (Ctrl-C).\n" {
		t.Errorf("a script interrupted before a statement ran %+v; errors %q", f.reqs, errOut.String())
	}
}

func TestShellSourceDepth(t *testing.T) {
	_, _, _, errOut, _ := run(t, []any{"SOURCE 'self.cql'"}, map[string]string{"self.cql": "SOURCE 'self.cql'\n"}, nil)
	if !strings.Contains(errOut, "more than 8 deep") {
		t.Errorf("errors: %q", errOut)
	}
	_, _, _, errOut, _ = run(t, []any{"SOURCE 'open.cql'"}, map[string]string{"open.cql": "SELECT * FROM t\n"}, nil)
	if !strings.Contains(errOut, "SOURCE open.cql: the file ends inside a statement") {
		t.Errorf("errors: %q", errOut)
	}
}

func TestShellHelp(t *testing.T) {
	_, _, out, errOut, _ := run(t, []any{"HELP", "HELP tracing", "HELP nope"}, nil, nil)
	if !strings.Contains(out, "DESCRIBE TABLE <name>") || !strings.Contains(out, "TRACING ON prints") || !strings.Contains(errOut, "no help on NOPE; topics: CONSISTENCY, DESCRIBE, SOURCE, TRACING") {
		t.Errorf("out:\n%s\nerr:\n%s", out, errOut)
	}
}

func TestShellEndsOnEOF(t *testing.T) {
	_, _, out, _, ok := run(t, []any{"SELECT * FROM t;", io.EOF, "SELECT * FROM never;"}, nil, nil)
	if !ok || strings.Contains(out, "never") {
		t.Errorf("ok %v, out %q", ok, out)
	}
	_, _, _, errOut, ok := run(t, []any{errors.New("tty gone")}, nil, nil)
	if ok || !strings.Contains(errOut, "reading input: tty gone") {
		t.Errorf("ok %v, err %q", ok, errOut)
	}
}
