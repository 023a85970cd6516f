package shell

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		kind commandKind
		arg  string
		err  string
	}{
		{"SELECT * FROM t;", false, 0, "", ""},
		{"", false, 0, "", ""},
		{"consistency", true, cmdConsistency, "", ""},
		{"CONSISTENCY ONE;", true, cmdConsistency, "one", ""},
		{"CONSISTENCY ONE TWO", true, cmdConsistency, "", "one level"},
		{"tracing on", true, cmdTracing, "ON", ""},
		{"TRACING OFF;", true, cmdTracing, "OFF", ""},
		{"TRACING", true, cmdTracing, "", ""},
		{"TRACING maybe", true, cmdTracing, "", "ON or OFF"},
		{"SOURCE 'a b.cql'", true, cmdSource, "a b.cql", ""},
		{"source 'it''s.cql';", true, cmdSource, "it's.cql", ""},
		{`SOURCE "x.cql"`, true, cmdSource, "x.cql", ""},
		{"SOURCE /tmp/x.cql", true, cmdSource, "/tmp/x.cql", ""},
		{"SOURCE", true, cmdSource, "", "needs a file"},
		{"SOURCE a b", true, cmdSource, "", "quote"},
		{`\status`, true, cmdStatus, "", ""},
		{`\STATUS x`, true, cmdStatus, "", "no argument"},
		{"help", true, cmdHelp, "", ""},
		{"HELP consistency", true, cmdHelp, "CONSISTENCY", ""},
		{"exit", true, cmdExit, "", ""},
		{"QUIT;", true, cmdExit, "", ""},
		{"EXIT now", true, cmdExit, "", "no argument"},
		{"DESCRIBE TABLES", true, cmdDescribe, "DESCRIBE TABLES", ""},
		{" desc table t ; ", true, cmdDescribe, "desc table t", ""},
	}
	for _, tt := range tests {
		c, ok := parseCommand(tt.line)
		if ok != tt.ok || c.kind != tt.kind || c.arg != tt.arg {
			t.Errorf("parseCommand(%q) = %+v, %v; want kind %d arg %q ok %v", tt.line, c, ok, tt.kind, tt.arg, tt.ok)
		}
		switch {
		case tt.err == "" && c.err != nil:
			t.Errorf("parseCommand(%q): unexpected error %v", tt.line, c.err)
		case tt.err != "" && (c.err == nil || !strings.Contains(c.err.Error(), tt.err)):
			t.Errorf("parseCommand(%q): error %v, want one mentioning %q", tt.line, c.err, tt.err)
		}
	}
}
