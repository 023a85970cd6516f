package cli

import (
	"strings"
	"testing"

	"github.com/chorusdb/chorus/messages"
)

// TestShellScript: chorus shell reads statements from a pipe: writes and
// reads go out with the session's consistency level and print as chorus
// exec and chorus query print them; a failed statement makes the exit
// status 1 and the script goes on.
func TestShellScript(t *testing.T) {
	url := startNATS(t)
	seen := respond(t, url, "db.request", func(r request) []byte {
		switch {
		case strings.HasPrefix(r.stmt, "SELECT"):
			return messages.ReadSuccess([]string{"id", "events", "name"}, []byte(rowsJSON), "server2").Encode()
		case strings.HasPrefix(r.stmt, "DESCRIBE"):
			return messages.ReadSuccess([]string{"column", "type", "kind", "position", "clustering_order"},
				[]byte(`[{"column":"id","type":"int","kind":"partition_key","position":0,"clustering_order":"none"},`+
					`{"column":"at","type":"timestamp","kind":"clustering","position":0,"clustering_order":"desc"}]`), "server1").Encode()
		case strings.HasPrefix(r.stmt, "BAD"):
			return messages.Failure(messages.CodeBadRequest, "syntax error: no", "server0", r.id).Encode()
		}
		return messages.WriteSuccess(42, "server1", r.id).Encode()
	})
	script := "INSERT INTO t (id) VALUES (1);\n" +
		"SELECT id, events, name\n  FROM t;\n" +
		"CONSISTENCY ONE\n" +
		"BAD;\n" +
		"UPDATE t SET v = 1 WHERE id = 1;\n" +
		"DESCRIBE TABLE t\n" +
		"SELECT * FROM t\n"
	r := chorus(t, nil, script, "--nats", url, "shell")
	r.want(t, exitFail)
	want := "SUCCESS seq=42 server=server1\n" +
		"id                events  name\n" +
		"9007199254740993  [1,2]   ann\n" +
		"8                 null    \"a\\tb\"\n" +
		"(2 rows, server2)\n" +
		"Consistency level set to ONE.\n" +
		"SUCCESS seq=42 server=server1\n" +
		"CREATE TABLE t (\n    id int,\n    at timestamp,\n    PRIMARY KEY (id, at)\n) WITH CLUSTERING ORDER BY (at DESC);\n\n" +
		"column  type       kind           position  clustering_order\n" +
		"id      int        partition_key  0         none\n" +
		"at      timestamp  clustering     0         desc\n" +
		"(2 rows, server1)\n"
	if r.stdout != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "ERROR BAD_REQUEST: syntax error: no (server0)\nthe input ends inside a statement; end it with ';'\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	var got []string
	for range 5 {
		req := <-seen
		got = append(got, req.stmt+"|"+req.consistency)
	}
	wantReqs := []string{"INSERT INTO t (id) VALUES (1)|all", "SELECT id, events, name\n  FROM t|", "BAD|one", "UPDATE t SET v = 1 WHERE id = 1|one", "DESCRIBE TABLE t|"}
	if strings.Join(got, ",") != strings.Join(wantReqs, ",") {
		t.Errorf("requests %q, want %q", got, wantReqs)
	}
}

func TestConsistencyOptions(t *testing.T) {
	for _, tc := range []struct {
		level string
		read  bool
		n     int
		err   string
	}{
		{"all", false, 1, ""}, {"one", false, 1, ""}, {"all", true, 0, ""}, {"one", true, 0, ""},
		{"linearizable", true, 1, ""}, {"linearizable", false, 0, ""}, {"local", true, 1, ""},
		{"min_seq:42", true, 1, ""}, {"bounded:1s", true, 1, ""}, {"bounded:1s", false, 0, ""},
		{"bounded:soon", true, 0, `consistency level "bounded:soon": use ALL`},
		{"quorum", false, 0, `consistency level "quorum": use ALL`},
	} {
		opts, err := consistencyOptions(tc.level, tc.read)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("consistencyOptions(%q, %v): %v", tc.level, tc.read, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("consistencyOptions(%q, %v) = %v, want an error mentioning %q", tc.level, tc.read, err, tc.err)
		case len(opts) != tc.n:
			t.Errorf("consistencyOptions(%q, %v) gave %d options, want %d", tc.level, tc.read, len(opts), tc.n)
		}
	}
}
