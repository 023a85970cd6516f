package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/feed"
	"github.com/chorusdb/chorus/messages"
)

var watchCommand = &command{
	name:    "watch",
	args:    "[table]",
	summary: "print the change feed: every committed write, in order",
	detail: `
Prints one line per committed write, as the leader publishes it, until
interrupted (or --count changes): "<seq>.<index> <time> <table> <statement>
[<origin>, request <id>]". Schema changes and TRUNCATE show as table
"_schema"; a write whose outcome the leader no longer knew as "_gap".
With a table, only that table's changes (use _schema for the schema ones).
--from SEQ starts with the first change of seq SEQ or later (to resume,
the seq of the last change seen; its ORDER's changes come again); without
it, only changes from now on. --json prints each change as its JSON.
Failed writes never appear. Reading the feed needs the feed role's
credentials on a broker with roles (locally --nkey .data/creds/feed.nk).

examples:
  chorus --nkey .data/creds/feed.nk watch
  chorus --nkey .data/creds/feed.nk watch --from 120 --json grade`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		from := fs.Uint64("from", 0, "start at the first change of `seq` or later (default: changes from now on)")
		count := fs.Int("count", 0, "stop after `n` changes (default: until interrupted)")
		jsonOut := fs.Bool("json", false, "print each change as JSON")
		timeout := fs.Duration("timeout", client.DefaultTimeout, "give up finding the feed after this `duration`")
		return func(e *env, g *globals, args []string) int {
			if len(args) > 1 {
				return usageError(e, "watch", "one table at most, got %s", strings.Join(args, " "))
			}
			if *count < 0 || *timeout <= 0 {
				return usageError(e, "watch", "--count must not be negative and --timeout must be positive")
			}
			table := ""
			if len(args) == 1 {
				table = args[0]
			}
			c, code := dial(e, g)
			if code != exitOK {
				return code
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n := 0
			errDone := errors.New("done")
			err := c.Watch(ctx, table, *from, func(ch client.Change) error {
				if *jsonOut {
					b, _ := feed.Encode(ch)
					fmt.Fprintf(e.stdout, "%s\n", b)
				} else {
					writeChange(e.stdout, ch)
				}
				if n++; *count > 0 && n >= *count {
					return errDone
				}
				return nil
			}, client.WithTimeout(*timeout))
			if err != nil && !errors.Is(err, errDone) {
				fmt.Fprintf(e.stderr, "chorus watch: %v\n", err)
				return exitFail
			}
			return exitOK
		}
	},
}

// writeChange prints one change as a line.
func writeChange(w io.Writer, ch messages.Change) {
	table := ch.Table
	switch {
	case ch.Outcome == messages.ChangeUnknown:
		table = messages.GapToken
	case strings.HasPrefix(ch.Kind, "CREATE") || strings.HasPrefix(ch.Kind, "ALTER") || strings.HasPrefix(ch.Kind, "DROP") || ch.Kind == "TRUNCATE":
		table = messages.SchemaToken
	}
	ts := time.UnixMicro(ch.Timestamp).UTC().Format("15:04:05.000000")
	fmt.Fprintf(w, "%d.%d %s %s %s [%s, request %s]", ch.Seq, ch.Index, ts, table, ch.Stmt, ch.Origin, ch.RequestID)
	if ch.Error != "" {
		fmt.Fprintf(w, " UNKNOWN: %s", ch.Error)
	}
	fmt.Fprintln(w)
}
