package shell

import (
	"fmt"
	"strings"
)

// commandKind is a line the shell answers itself, or sends as it is.
type commandKind uint8

const (
	cmdConsistency commandKind = iota + 1
	cmdTracing
	cmdSource
	cmdStatus
	cmdHelp
	cmdExit
	cmdDescribe // sent to a worker, which answers it; ends at the line's end
)

// command is one shell command line.
type command struct {
	kind commandKind
	arg  string // the level, ON/OFF, the file, the help topic, or the DESCRIBE statement
	err  error  // a malformed command: what is wrong and how to write it
}

// parseCommand reads a line typed at the start of a statement as a shell
// command: CONSISTENCY [level], TRACING [ON|OFF], SOURCE 'file', \status,
// HELP [topic], EXIT, QUIT, and DESCRIBE/DESC, which need no ';' (one is
// allowed). Keywords ignore case. ok is false for any other line: CQL.
func parseCommand(line string) (cmd command, ok bool) {
	text := strings.TrimSpace(line)
	text = strings.TrimSpace(strings.TrimSuffix(text, ";"))
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return command{}, false
	}
	word, args := strings.ToUpper(fields[0]), fields[1:]
	noArgs := func(k commandKind) (command, bool) {
		c := command{kind: k}
		if len(args) > 0 {
			c.err = fmt.Errorf("%s takes no argument, found %q", word, strings.Join(args, " "))
		}
		return c, true
	}
	switch word {
	case "EXIT", "QUIT":
		return noArgs(cmdExit)
	case `\STATUS`:
		return noArgs(cmdStatus)
	case "HELP", "?":
		return command{kind: cmdHelp, arg: strings.ToUpper(strings.Join(args, " "))}, true
	case "CONSISTENCY":
		c := command{kind: cmdConsistency}
		switch len(args) {
		case 0:
		case 1:
			c.arg = strings.ToLower(args[0])
		default:
			c.err = fmt.Errorf("CONSISTENCY takes one level, found %q; write CONSISTENCY ONE, for example", strings.Join(args, " "))
		}
		return c, true
	case "TRACING":
		c := command{kind: cmdTracing}
		switch {
		case len(args) == 0:
		case len(args) == 1 && (strings.EqualFold(args[0], "on") || strings.EqualFold(args[0], "off")):
			c.arg = strings.ToUpper(args[0])
		default:
			c.err = fmt.Errorf("TRACING takes ON or OFF, found %q", strings.Join(args, " "))
		}
		return c, true
	case "SOURCE":
		c := command{kind: cmdSource}
		c.arg, c.err = unquotePath(strings.TrimSpace(text[len(fields[0]):]))
		return c, true
	case "DESCRIBE", "DESC":
		return command{kind: cmdDescribe, arg: text}, true
	}
	return command{}, false
}

// unquotePath reads SOURCE's argument: 'file' (a doubled quote inside is one, as in
// CQL), "file", or a path without spaces as it is.
func unquotePath(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("SOURCE needs a file: SOURCE 'statements.cql'")
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return s[1 : len(s)-1], nil
	case strings.ContainsAny(s, " \t'\""):
		return "", fmt.Errorf("SOURCE %s: quote a file name with spaces or quotes: SOURCE 'my file.cql'", s)
	}
	return s, nil
}
