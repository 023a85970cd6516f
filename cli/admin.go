package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

var membersCommand = &command{
	name:    "members",
	args:    "",
	summary: "list the cluster's members and their progress",
	detail: `
Prints one line per member, as the leader sees it: its state (joining: catching
up, not yet waited for; live: the leader waits for its ACKs; out: silent or
stuck, not waited for until it catches up; removed: taken out for good by
"chorus remove"), how far it has applied, its lag behind the log, when the
leader last heard from it, for a joining member an estimate of the time left,
for a member restoring a snapshot how much it has loaded (bytes of the
snapshot's total, and rows), and why it is stalled, if it is.

With --json it prints the members as a JSON array (the "workers" of the
status JSON, with "state" filled in for an older leader).

examples:
  chorus members
  chorus members --json | jq -r '.[] | select(.state == "out") | .id'`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		timeout := fs.Duration("timeout", 10*time.Second, "give up after this `duration`")
		jsonOut := fs.Bool("json", false, "print the members as a JSON array")
		return func(e *env, g *globals, args []string) int {
			c, ctx, done, code := dialFor(e, g, "members", args, *timeout)
			if code != exitOK {
				return code
			}
			defer done()
			ws, err := c.Members(ctx)
			if err != nil {
				printError(e, err)
				return exitFail
			}
			if *jsonOut {
				if ws == nil {
					ws = []messages.StatusWorker{}
				}
				b, _ := json.Marshal(ws)
				fmt.Fprintf(e.stdout, "%s\n", b)
				return exitOK
			}
			writeMembers(e.stdout, ws, true)
			return exitOK
		}
	},
}

var removeCommand = &command{
	name:    "remove",
	args:    "<id>",
	summary: "take a member out of the cluster for good (admin)",
	detail: `
Asks the leader to remove member <id>: it stops waiting for its ACKs, stops
keeping log for it and refuses its ACKs and heartbeats. The removal goes
through the log; once every live replica has applied it, prints
"removed <id> at seq <n>"; the removed worker stops. To bring it back under
that id, drop its keyspace and start it again: it restores from the newest
snapshot and joins as a new member.

The leader refuses an unknown id, a member already removed and the last live
member: the refusal is printed as "ERROR BAD_REQUEST: <message> (<leader>)",
exit 1. It is an admin operation: on a broker with roles it needs the admin
role's credentials (locally: --nkey .data/creds/admin.nk; see SECURITY.md);
without them NATS refuses it, exit 1. It is sent once, never retried.

example:
  chorus --nkey .data/creds/admin.nk remove server3`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		timeout := fs.Duration("timeout", client.DefaultTimeout, "give up after this `duration`")
		return func(e *env, g *globals, args []string) int {
			if len(args) != 1 {
				return usageError(e, "remove", "give exactly one member id")
			}
			id := args[0]
			if !messages.ValidToken(id) {
				return usageError(e, "remove", "invalid member id %q", id)
			}
			if *timeout <= 0 {
				return usageError(e, "remove", "--timeout must be positive")
			}
			c, code := dial(e, g)
			if code != exitOK {
				return code
			}
			defer c.Close()

			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			seq, err := c.Remove(ctx, id)
			if err != nil {
				printError(e, err)
				return exitFail
			}
			fmt.Fprintf(e.stdout, "removed %s at seq %d\n", id, seq)
			return exitOK
		}
	},
}

var snapshotCommand = &command{
	name:    "snapshot",
	args:    "",
	summary: "take a snapshot now and wait until it is stored (admin)",
	detail: `
Asks the leader for a snapshot: it puts a snapshot request into the log, and
one replica (a live follower if there is one) writes its keyspace as of that
seq into the cluster's snapshot bucket while the others keep committing. If a
snapshot is already under way, waits for that one. Once it is stored, prints
"snapshot at seq <n> stored by <worker>". The leader answers only then, so
--timeout must cover reading the whole keyspace; a timeout does not stop the
snapshot ("chorus status" shows the newest snapshot's seq).

It is an admin operation: on a broker with roles it needs the admin role's
credentials (locally: --nkey .data/creds/admin.nk; see SECURITY.md).

example:
  chorus --nkey .data/creds/admin.nk snapshot --timeout 10m`,
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		timeout := fs.Duration("timeout", client.DefaultSnapshotTimeout, "give up waiting after this `duration`")
		return func(e *env, g *globals, args []string) int {
			c, ctx, done, code := dialFor(e, g, "snapshot", args, *timeout)
			if code != exitOK {
				return code
			}
			defer done()
			seq, by, err := c.Snapshot(ctx)
			if err != nil {
				printError(e, err)
				return exitFail
			}
			fmt.Fprintf(e.stdout, "snapshot at seq %d stored by %s\n", seq, by)
			return exitOK
		}
	},
}
