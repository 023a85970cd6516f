package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/cql"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/shell"
)

var shellCommand = &command{
	name:    "shell",
	args:    "",
	summary: "an interactive CQL shell, like cqlsh (or run statements from a pipe)",
	detail: `
Statements end with ';' and may span lines; SELECT and DESCRIBE print their
rows as chorus query does, writes their "SUCCESS seq=<n> server=<worker>"
as chorus exec does. Shell commands, which need no ';':
  DESCRIBE TABLES, DESCRIBE TABLE <name>   the keyspace's tables, a table's columns
  CONSISTENCY [ALL|ONE]                    show or set the write consistency
  TRACING [ON|OFF]                         round trip, worker and seq per statement
  SOURCE '<file>'                          run the statements of a file
  \status                                  the cluster's status, as chorus status
  HELP [topic], EXIT, QUIT
On a terminal: line editing, history (up arrow, Ctrl-R) kept in --history;
Ctrl-C drops the statement being typed or cancels the one running; Ctrl-D
leaves. From a file or pipe it runs every line and exits 1 if any failed.

examples:
  chorus shell
  chorus shell --server server1 < schema.cql`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		server := fs.String("server", "", "send every statement to worker `ID` (default: any worker)")
		timeout := fs.Duration("timeout", client.DefaultTimeout, "give up on a statement after this `duration`, all retries included")
		history := fs.String("history", defaultHistory(), "keep the history in this `file` (\"\" for none)")
		level := fs.String("consistency", shell.DefaultLevel, "the consistency `level` to start with (see CONSISTENCY)")
		return func(e *env, g *globals, args []string) int {
			if len(args) > 0 {
				return usageError(e, "shell", "unexpected arguments: %s (type statements into the shell, or pipe them in)", strings.Join(args, " "))
			}
			if *timeout <= 0 {
				return usageError(e, "shell", "--timeout must be positive")
			}
			*level = strings.ToLower(*level)
			if _, err := consistencyOptions(*level, false); err != nil {
				return usageError(e, "shell", "--consistency: %v", err)
			}
			c, code := dial(e, g)
			if code != exitOK {
				return code
			}
			defer c.Close()
			return runShell(e, g, &shellBackend{c: c, server: *server, timeout: *timeout}, *history, *level)
		}
	},
}

// runShell runs a session on the terminal, or over standard input when it
// is not one.
func runShell(e *env, g *globals, b *shellBackend, history, level string) int {
	stdin, _ := e.stdin.(*os.File)
	interactive := stdin != nil && shell.IsTerminal(stdin)
	var in shell.LineReader = shell.NewLines(e.stdin)
	if interactive {
		t, err := shell.NewTerminal(history)
		if err != nil {
			fmt.Fprintf(e.stderr, "chorus shell: %v\n", err)
			return exitFail
		}
		defer t.Close()
		in = t
		fmt.Fprintf(e.stdout, "Connected to Chorus at %s (subject prefix %s). Type HELP for help; end statements with ';'.\n", g.natsURL, g.prefix)
	}
	// Ctrl-C while a statement runs is SIGINT (the terminal is raw only
	// while a line is typed): it cancels that statement.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	interrupts := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-sigs:
				select {
				case interrupts <- struct{}{}:
				default: // one pending Ctrl-C is as good as several
				}
			case <-stop:
				return
			}
		}
	}()
	sh := shell.New(shell.Config{Backend: b, In: in, Out: e.stdout, Err: e.stderr, Interrupts: interrupts, Interactive: interactive})
	if level != shell.DefaultLevel {
		sh.SetLevel(level)
	}
	if !sh.Run(context.Background()) && !interactive {
		return exitFail
	}
	return exitOK
}

// defaultHistory is ~/.chorus_history, or "" without a home directory.
func defaultHistory() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".chorus_history")
}

// consistencyOptions maps a CONSISTENCY level to the client options of a
// statement: ALL and ONE say how many replicas a write waits for (a read
// is then local); LOCAL, LINEARIZABLE, MIN_SEQ:<seq> and BOUNDED:<duration>
// say how fresh a read must be (a write then waits for ALL).
func consistencyOptions(level string, read bool) ([]client.Option, error) {
	switch level {
	case "all", "one":
		if read {
			return nil, nil
		}
		c, _ := messages.ParseConsistency(level)
		return []client.Option{client.WithConsistency(c)}, nil
	}
	rc, err := messages.ParseReadConsistency(level)
	if err != nil {
		return nil, fmt.Errorf("consistency level %q: use ALL (a write's SUCCESS waits for every live replica) or ONE (for the leader's replica), or for reads LOCAL, LINEARIZABLE, MIN_SEQ:<seq> or BOUNDED:<duration>", level)
	}
	if !read {
		return nil, nil
	}
	return []client.Option{client.WithReadConsistency(rc)}, nil
}

// shellBackend runs the shell's statements on the cluster and prints them
// as chorus query, exec and status do.
type shellBackend struct {
	c       *client.Client
	server  string
	timeout time.Duration
}

// CheckLevel implements shell.Backend.
func (b *shellBackend) CheckLevel(level string) error {
	_, err := consistencyOptions(level, false)
	return err
}

// Status implements shell.Backend.
func (b *shellBackend) Status(ctx context.Context, out, errOut io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	st, err := b.c.Status(ctx)
	if err != nil {
		printError(&env{stdout: out, stderr: errOut}, err)
		return
	}
	writeStatus(out, st)
}

// Run implements shell.Backend.
func (b *shellBackend) Run(ctx context.Context, r shell.Request, out, errOut io.Writer) shell.Trace {
	e := &env{stdout: out, stderr: errOut}
	opts, err := consistencyOptions(r.Level, r.Read)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return shell.Trace{}
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var raw []byte
	opts = append(opts, client.WithRawReply(&raw), client.WithServer(b.server))
	start := time.Now()
	if r.Read {
		rows, err := b.c.Query(ctx, r.Stmt, opts...)
		tr := traceOf(time.Since(start), raw)
		if err != nil {
			printError(e, err)
			return tr
		}
		if table := describedTable(r.Stmt); table != "" {
			if cols, ok := describeColumns(rows); ok {
				fmt.Fprintf(out, "%s\n\n", shell.CreateTable(table, cols))
			}
		}
		writeRows(out, rows)
		return tr
	}
	res, err := b.c.Exec(ctx, r.Stmt, opts...)
	tr := traceOf(time.Since(start), raw)
	if err != nil {
		printError(e, err)
		if errors.Is(err, client.ErrTimeout) || errors.Is(err, context.Canceled) {
			fmt.Fprintf(errOut, "to learn its outcome, or apply it at most once: chorus exec --request-id %s <the same statement>\n", res.RequestID)
		}
		return tr
	}
	if res.Index > 0 {
		fmt.Fprintf(out, "SUCCESS seq=%d index=%d server=%s\n", res.Seq, res.Index, res.Server)
	} else {
		fmt.Fprintf(out, "SUCCESS seq=%d server=%s\n", res.Seq, res.Server)
	}
	return tr
}

// traceOf is the trace of a statement: its round trip, and the worker and
// seq its reply names.
func traceOf(elapsed time.Duration, raw []byte) shell.Trace {
	tr := shell.Trace{Elapsed: elapsed}
	var reply messages.Reply
	if raw != nil && json.Unmarshal(raw, &reply) == nil {
		tr.Server, tr.Seq = reply.Server, reply.Seq
	}
	return tr
}

// describedTable is the table of a DESCRIBE TABLE statement, "" for any
// other.
func describedTable(stmt string) string {
	st, err := cql.Parse(stmt, "")
	if err != nil || st.Kind != cql.KindDescribe {
		return ""
	}
	return st.DescribeTable
}

// describeColumns reads the rows of a DESCRIBE TABLE reply.
func describeColumns(rows *client.Rows) ([]shell.Column, bool) {
	var cols []shell.Column
	for _, r := range rows.Rows {
		name, _ := r["column"].(string)
		typ, _ := r["type"].(string)
		kind, _ := r["kind"].(string)
		order, _ := r["clustering_order"].(string)
		n, _ := r["position"].(json.Number)
		pos, err := strconv.Atoi(n.String())
		if name == "" || typ == "" || kind == "" || err != nil {
			return nil, false
		}
		cols = append(cols, shell.Column{Name: name, Type: typ, Kind: kind, Position: pos, ClusteringOrder: order})
	}
	return cols, len(cols) > 0
}
