package cql

import "testing"

func TestWithTimestamp(t *testing.T) {
	cases := map[string]string{
		"INSERT INTO t (a, b) VALUES (1, 'x')":                 "INSERT INTO t (a, b) VALUES (1, 'x') USING TIMESTAMP 42",
		"INSERT INTO t (a) VALUES (1) USING TTL 5":             "INSERT INTO t (a) VALUES (1) USING TIMESTAMP 42 AND TTL 5",
		"INSERT INTO t JSON '{\"a\": 1}'":                      "INSERT INTO t JSON '{\"a\": 1}' USING TIMESTAMP 42",
		"INSERT INTO t (a) VALUES (1) IF NOT EXISTS":           "INSERT INTO t (a) VALUES (1) USING TIMESTAMP 42 IF NOT EXISTS",
		"UPDATE grade SET events = events + [1] WHERE id = 1":  "UPDATE grade USING TIMESTAMP 42 SET events = events + [1] WHERE id = 1",
		"UPDATE grade USING TTL 9 SET a = 1 WHERE id = 1":      "UPDATE grade USING TIMESTAMP 42 AND TTL 9 SET a = 1 WHERE id = 1",
		"update \"Grade\" set a = 1 where id = 1":              "update \"Grade\" USING TIMESTAMP 42 set a = 1 where id = 1",
		"DELETE FROM grade WHERE id = 1":                       "DELETE FROM grade USING TIMESTAMP 42 WHERE id = 1",
		"DELETE events[0], a FROM grade WHERE id = 1 IF a = 2": "DELETE events[0], a FROM grade USING TIMESTAMP 42 WHERE id = 1 IF a = 2",
	}
	for in, want := range cases {
		st, err := Parse(in, "ks")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, err := WithTimestamp(st, 42)
		if err != nil || got != want {
			t.Errorf("%s:\n got %q %v\nwant %q", in, got, err, want)
			continue
		}
		again, err := Parse(got, "ks")
		if err != nil || !again.UsingTimestamp || again.Kind != st.Kind {
			t.Errorf("%s: result does not parse back with a timestamp: %+v %v", got, again, err)
		}
	}
	for _, in := range []string{"INSERT INTO t (a) VALUES (1) USING TIMESTAMP 5", "TRUNCATE t", "CREATE TABLE x (a int PRIMARY KEY)"} {
		st, err := Parse(in, "ks")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := WithTimestamp(st, 42); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}
