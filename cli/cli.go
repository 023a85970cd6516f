// Package cli is the chorus command: it sends CQL statements to a Chorus
// cluster over NATS and shows the replies, shows the cluster's status and
// members, and runs the admin operations (remove a member, take a snapshot).
//
// cmd/chorus only calls Main; everything else lives here so it can be tested
// without building a binary.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// Exit statuses.
const (
	exitOK    = 0 // success
	exitFail  = 1 // an ERROR reply, a timeout, no leader, no NATS
	exitUsage = 2 // bad command line
)

// Environment variables for the global flags (the same as chorus-worker's).
const (
	envNATSURL = "CHORUS_NATS_URL"
	envPrefix  = "CHORUS_SUBJECT_PREFIX"
)

// Main runs the chorus command with args (without the program name) and
// returns its exit status: 0 on success, 1 when the cluster answered with an
// error or could not be reached, 2 for a bad command line.
func Main(args []string, stdout, stderr io.Writer) int {
	return run(&env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}, args)
}

// env is what a command may touch of the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// globals are the flags valid before (and after) any command.
type globals struct {
	natsURL string
	prefix  string
	auth    auth
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.natsURL, "nats", g.natsURL, "NATS server `URL` (env "+envNATSURL+")")
	fs.StringVar(&g.prefix, "prefix", g.prefix, "subject `prefix` of the cluster (env "+envPrefix+")")
	g.auth.register(fs)
}

// command is one entry of the dispatch table.
type command struct {
	name    string
	args    string // after "chorus <name> [flags]"
	summary string
	detail  string // more help, shown by "chorus help <name>"
	// flags registers the command's own flags and returns its runner,
	// which gets the arguments left after the flags.
	flags func(fs *flag.FlagSet) func(e *env, g *globals, args []string) int
}

// commands is the dispatch table, in the order usage lists them.
var commands []*command

func init() {
	commands = []*command{execCommand, queryCommand, shellCommand, statusCommand, membersCommand, watchCommand, removeCommand, snapshotCommand, benchCommand, helpCommand}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func run(e *env, args []string) int {
	g := &globals{natsURL: client.DefaultURL, prefix: client.DefaultPrefix}
	if v := e.getenv(envNATSURL); v != "" {
		g.natsURL = v
		g.auth.urlSet = true
	}
	g.auth.fromEnv(e.getenv)
	if v := e.getenv(envPrefix); v != "" {
		g.prefix = v
	}

	fs := flag.NewFlagSet("chorus", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {}
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(e.stdout)
			return exitOK
		}
		usage(e.stderr)
		return exitUsage
	}
	g.auth.urlSet = g.auth.urlSet || flagSet(fs, "nats")
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(e.stderr, "chorus: no command given")
		usage(e.stderr)
		return exitUsage
	}
	cmd := lookup(rest[0])
	if cmd == nil {
		fmt.Fprintf(e.stderr, "chorus: unknown command %q\n", rest[0])
		usage(e.stderr)
		return exitUsage
	}
	return cmd.run(e, g, rest[1:])
}

// newFlagSet is the flag set of cmd, with the global flags and the
// command's own, and its runner.
func (c *command) newFlagSet(g *globals) (*flag.FlagSet, func(*env, *globals, []string) int) {
	fs := flag.NewFlagSet("chorus "+c.name, flag.ContinueOnError)
	fs.Usage = func() {}
	g.register(fs)
	return fs, c.flags(fs)
}

// run parses the command's flags and runs it.
func (c *command) run(e *env, g *globals, args []string) int {
	fs, runner := c.newFlagSet(g)
	fs.SetOutput(e.stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(e.stdout, g)
			return exitOK
		}
		c.usage(e.stderr, g)
		return exitUsage
	}
	g.auth.urlSet = g.auth.urlSet || flagSet(fs, "nats")
	if !messages.ValidPrefix(g.prefix) {
		fmt.Fprintf(e.stderr, "chorus: invalid subject prefix %q (dot-separated tokens without spaces or wildcards)\n", g.prefix)
		return exitUsage
	}
	return runner(e, g, fs.Args())
}

// usage prints the command's help: synopsis, flags and details.
func (c *command) usage(w io.Writer, g *globals) {
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", strings.TrimSpace("chorus [global flags] "+c.name+" [flags] "+c.args), upperFirst(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	fs, _ := c.newFlagSet(g)
	var own, global strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		b := &own
		if f.Name == "nats" || f.Name == "prefix" || isAuthFlag(f.Name) {
			b = &global
		}
		printFlag(b, fs, f)
	})
	if own.Len() > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", own.String())
	}
	fmt.Fprintf(w, "\nglobal flags:\n%s", global.String())
}

// printFlag writes one flag's line like flag.PrintDefaults, with "--".
func printFlag(w io.Writer, fs *flag.FlagSet, f *flag.Flag) {
	name, help := flag.UnquoteUsage(f)
	s := "  --" + f.Name
	if name != "" {
		s += " " + name
	}
	s += "\n    \t" + strings.ReplaceAll(help, "\n", "\n    \t")
	if f.DefValue != "" && f.DefValue != "false" {
		s += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintln(w, s)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// usage prints the help of the chorus command.
func usage(w io.Writer) {
	fmt.Fprint(w, `chorus sends CQL statements to a Chorus cluster over NATS and shows the replies.

usage:
  chorus [global flags] <command> [flags] [arguments]

commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
global flags (also accepted after the command):
  --nats URL     NATS server URL (env %s, default %s)
  --prefix P     subject prefix of the cluster (env %s, default %s)
  --context NAME use a nats CLI context (~/.config/nats/context/NAME.json)
  --creds FILE, --nkey FILE, --user NAME --password PW, --token T
                 NATS credentials (env CHORUS_NATS_CREDS, _NKEY, _USER, _PASSWORD,
                 _TOKEN); none is needed to send statements; remove and snapshot
                 need the admin role's (locally --nkey .data/creds/admin.nk),
                 watch the feed role's (.data/creds/feed.nk; see SECURITY.md)
  --tls-ca FILE, --tls-cert FILE --tls-key FILE
                 TLS to NATS (env CHORUS_NATS_TLS_CA, _CERT, _KEY)

The statement is the arguments after the flags, joined by spaces, or - to
read it from standard input. Flags go before the statement.

examples:
  chorus exec "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)"
  chorus exec "UPDATE grade SET events = events + [1] WHERE id = 7"
  chorus exec --request-id job-42 --consistency one "INSERT INTO grade (id, events) VALUES (8, [])"
  chorus query "SELECT id, events FROM grade WHERE id = 7"
  chorus query --server server2 --json "SELECT * FROM grade"
  echo "SELECT * FROM grade" | chorus query -
  chorus shell
  chorus --nats nats://nats.internal:4222 --prefix prod status
  chorus members
  chorus --nkey .data/creds/feed.nk watch --from 120 grade
  chorus --nkey .data/creds/admin.nk remove server3
  chorus --nkey .data/creds/admin.nk snapshot

Run "chorus help <command>" for a command's flags.
Exit status: 0 success, 1 error reply or failure, 2 usage error.
`, envNATSURL, client.DefaultURL, envPrefix, client.DefaultPrefix)
}

var helpCommand = &command{
	name:    "help",
	args:    "[command]",
	summary: "show this help, or a command's",
	flags: func(fs *flag.FlagSet) func(*env, *globals, []string) int {
		return func(e *env, g *globals, args []string) int {
			if len(args) == 0 {
				usage(e.stdout)
				return exitOK
			}
			c := lookup(args[0])
			if c == nil {
				fmt.Fprintf(e.stderr, "chorus: unknown command %q\n", args[0])
				usage(e.stderr)
				return exitUsage
			}
			c.usage(e.stdout, g)
			return exitOK
		}
	},
}
