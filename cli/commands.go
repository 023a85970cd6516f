package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

var execCommand = &command{
	name:    "exec",
	args:    "<cql>...",
	summary: "run a write (INSERT, UPDATE, DELETE, BATCH, TRUNCATE, table DDL)",
	detail: `
Prints "SUCCESS seq=<n> server=<worker>" once every live replica has applied
the write (with --consistency one: the leader's replica). An ERROR reply is
printed to standard error as "ERROR <code>: <message> (<worker>)", exit 1.
The write is retried with the same request id until --timeout; if it times
out, the error names the request id: run the same statement again with
--request-id <id> to apply it at most once and learn its outcome.

example:
  chorus exec "UPDATE grade SET events = events + [1] WHERE id = 7"`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		server := fs.String("server", "", "send to worker `ID` only (default: any worker)")
		requestID := fs.String("request-id", "", "idempotency key `ID` (default: a fresh unique id)")
		consistency := fs.String("consistency", "all", "replicas to wait for, `level` all or one")
		timeout := fs.Duration("timeout", client.DefaultTimeout, "give up after this `duration`, all retries included")
		jsonOut := fs.Bool("json", false, "print the reply JSON as received")
		return func(e *env, g *globals, args []string) int {
			cons, ok := messages.ParseConsistency(*consistency)
			if !ok {
				return usageError(e, "exec", "--consistency must be all or one, not %q", *consistency)
			}
			if *timeout <= 0 {
				return usageError(e, "exec", "--timeout must be positive")
			}
			stmt, code := statement(e, "exec", args)
			if code != exitOK {
				return code
			}
			c, code := dial(e, g)
			if code != exitOK {
				return code
			}
			defer c.Close()

			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			var raw []byte
			opts := []client.Option{client.WithRawReply(&raw), client.WithConsistency(cons), client.WithServer(*server)}
			if *requestID != "" {
				opts = append(opts, client.WithRequestID(*requestID))
			}
			res, err := c.Exec(ctx, stmt, opts...)
			if *jsonOut && raw != nil {
				return printJSON(e, raw, err)
			}
			if err != nil {
				printError(e, err)
				if errors.Is(err, client.ErrTimeout) || errors.Is(err, context.Canceled) {
					fmt.Fprintf(e.stderr, "to retry safely: chorus exec --request-id %s <the same statement>\n", res.RequestID)
				}
				return exitFail
			}
			if res.Index > 0 {
				fmt.Fprintf(e.stdout, "SUCCESS seq=%d index=%d server=%s\n", res.Seq, res.Index, res.Server)
			} else {
				fmt.Fprintf(e.stdout, "SUCCESS seq=%d server=%s\n", res.Seq, res.Server)
			}
			return exitOK
		}
	},
}

var queryCommand = &command{
	name:    "query",
	args:    "<cql>...",
	summary: "run a read (SELECT, DESCRIBE) and print the rows as a table",
	detail: `
Prints the rows as a table, columns in the order of the statement, and a
"(N rows, <worker> at seq <n>)" footer: the worker answers from its own
replica, which had applied the log up to seq n. --consistency says how fresh
it must be: local (default: as it is, maybe stale), linearizable (every write
acknowledged before the query is seen), min_seq:<n> (the replica has applied
at least seq n: read your own write) or bounded:<duration> (caught up with
the leader at most that long ago, else as linearizable). A worker that cannot
be that fresh in time answers UNAVAILABLE, never older rows.

example:
  chorus query "SELECT id, events FROM grade WHERE id = 7"
  chorus query --consistency linearizable "SELECT id, events FROM grade WHERE id = 7"`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		server := fs.String("server", "", "read from worker `ID` (default: any worker)")
		consistency := fs.String("consistency", "local", "freshness `level`: local, linearizable, min_seq:<seq> or bounded:<duration>")
		timeout := fs.Duration("timeout", client.DefaultTimeout, "give up after this `duration`, all retries included")
		jsonOut := fs.Bool("json", false, "print the reply JSON as received")
		return func(e *env, g *globals, args []string) int {
			rc, err := messages.ParseReadConsistency(*consistency)
			if err != nil {
				return usageError(e, "query", "--consistency %q: use %s", *consistency, messages.ReadForms)
			}
			if *timeout <= 0 {
				return usageError(e, "query", "--timeout must be positive")
			}
			stmt, code := statement(e, "query", args)
			if code != exitOK {
				return code
			}
			c, code := dial(e, g)
			if code != exitOK {
				return code
			}
			defer c.Close()

			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			var raw []byte
			rows, err := c.Query(ctx, stmt, client.WithRawReply(&raw), client.WithServer(*server), client.WithReadConsistency(rc))
			if *jsonOut && raw != nil {
				return printJSON(e, raw, err)
			}
			if err != nil {
				printError(e, err)
				return exitFail
			}
			writeRows(e.stdout, rows)
			return exitOK
		}
	},
}

var statusCommand = &command{
	name:    "status",
	args:    "",
	summary: "show the leader's view of the cluster",
	detail: `
Prints the leader, its epoch, the first and last sequence of the log (the
leader trims entries every member has applied and a snapshot covers), the last
committed one and the newest snapshot's, then one line per worker: its state
(joining, live, out or removed; see "chorus help members"), how far it has
applied, its lag, when the leader last heard from it, and why it is stalled,
if it is. While a worker is joining or restoring a snapshot, the ETA and
RESTORE columns show its progress.

example:
  chorus status --json | jq .snapshot_seq`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		timeout := fs.Duration("timeout", 10*time.Second, "give up after this `duration`")
		jsonOut := fs.Bool("json", false, "print the status JSON as received")
		return func(e *env, g *globals, args []string) int {
			c, ctx, done, code := dialFor(e, g, "status", args, *timeout)
			if code != exitOK {
				return code
			}
			defer done()
			var raw []byte
			st, err := c.Status(ctx, client.WithRawReply(&raw))
			if *jsonOut && raw != nil {
				return printJSON(e, raw, err)
			}
			if err != nil {
				printError(e, err)
				return exitFail
			}
			writeStatus(e.stdout, st)
			return exitOK
		}
	},
}

// statement is the CQL statement given as args: joined by spaces, or read
// from standard input for "-".
func statement(e *env, cmd string, args []string) (string, int) {
	var stmt string
	if len(args) == 1 && args[0] == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			fmt.Fprintf(e.stderr, "chorus %s: reading the statement from standard input: %v\n", cmd, err)
			return "", exitFail
		}
		stmt = string(b)
	} else {
		stmt = strings.Join(args, " ")
	}
	stmt = strings.TrimSpace(stmt)
	if stmt == "" {
		return "", usageError(e, cmd, "no statement given")
	}
	return stmt, exitOK
}

func usageError(e *env, cmd, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "chorus %s: %s\n", cmd, fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "run \"chorus help %s\" for usage\n", cmd)
	return exitUsage
}

// dial connects to the cluster's NATS server.
// dialFor is what the commands without arguments share: no arguments, a
// positive --timeout, a connection, and a context bounded by the timeout.
// done closes both.
func dialFor(e *env, g *globals, name string, args []string, timeout time.Duration) (*client.Client, context.Context, func(), int) {
	if len(args) > 0 {
		return nil, nil, nil, usageError(e, name, "unexpected arguments: %s", strings.Join(args, " "))
	}
	if timeout <= 0 {
		return nil, nil, nil, usageError(e, name, "--timeout must be positive")
	}
	c, code := dial(e, g)
	if code != exitOK {
		return nil, nil, nil, code
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return c, ctx, func() { cancel(); c.Close() }, exitOK
}

func dial(e *env, g *globals) (*client.Client, int) {
	url, auth, err := g.auth.resolve(g.natsURL, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "chorus: %v\n", err)
		return nil, exitUsage
	}
	// A refused publish (an admin operation without the admin role) is
	// reported by the command itself, not by nats.go's default handler.
	quiet := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if !errors.Is(err, nats.ErrPermissionViolation) {
			fmt.Fprintf(e.stderr, "chorus: %v\n", err)
		}
	})
	c, err := client.Connect(url,
		client.WithPrefix(g.prefix),
		client.WithNATSOptions(append([]nats.Option{nats.Name("chorus-cli"), quiet}, auth...)...))
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitFail
	}
	return c, exitOK
}

// printError prints an ERROR reply as "ERROR CQL: <message> (server1)" and
// any other failure as it is.
func printError(e *env, err error) {
	var ce *client.Error
	if errors.As(err, &ce) {
		s := "ERROR " + ce.Code.String()
		if ce.Message != "" {
			s += ": " + ce.Message
		}
		if ce.Server != "" {
			s += " (" + ce.Server + ")"
		}
		fmt.Fprintln(e.stderr, s)
		return
	}
	fmt.Fprintln(e.stderr, err)
}

// printJSON prints a reply as received, for --json. An ERROR reply speaks
// for itself; any other failure (a reply that is not Chorus JSON) is also
// explained on standard error.
func printJSON(e *env, raw []byte, err error) int {
	fmt.Fprintf(e.stdout, "%s\n", raw)
	if err == nil {
		return exitOK
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		fmt.Fprintln(e.stderr, err)
	}
	return exitFail
}
