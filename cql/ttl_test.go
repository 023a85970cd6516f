package cql

import "testing"

func TestWithTTLElapsed(t *testing.T) {
	for _, c := range []struct {
		in, want string
		elapsed  int64
	}{
		{"INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL 86400", "INSERT INTO kv (k, v) VALUES (1, 'a') USING TTL 86396", 4},
		{"UPDATE kv USING TTL 100 AND TIMESTAMP 5 SET v = 'a' WHERE k = 1", "UPDATE kv USING TTL 1 AND TIMESTAMP 5 SET v = 'a' WHERE k = 1", 500},
		{"UPDATE kv USING TIMESTAMP 5 AND ttl 100 SET v = 'a' WHERE k = 1", "UPDATE kv USING TIMESTAMP 5 AND ttl 90 SET v = 'a' WHERE k = 1", 10},
		{"BEGIN BATCH INSERT INTO a (k) VALUES (1) USING TTL 60; UPDATE b USING TTL 30 SET v = 1 WHERE k = 2; APPLY BATCH",
			"BEGIN BATCH INSERT INTO a (k) VALUES (1) USING TTL 50; UPDATE b USING TTL 20 SET v = 1 WHERE k = 2; APPLY BATCH", 10},
		// No expiry stays none; nothing elapsed changes nothing.
		{"INSERT INTO kv (k) VALUES (1) USING TTL 0", "INSERT INTO kv (k) VALUES (1) USING TTL 0", 10},
		{"INSERT INTO kv (k) VALUES (1) USING TTL 60", "INSERT INTO kv (k) VALUES (1) USING TTL 60", 0},
		// A column, a value or a string named ttl is no TTL option.
		{"UPDATE kv SET ttl = 5 WHERE k = 1", "UPDATE kv SET ttl = 5 WHERE k = 1", 10},
		{"INSERT INTO kv (k, ttl) VALUES (1, 5)", "INSERT INTO kv (k, ttl) VALUES (1, 5)", 10},
		{"INSERT INTO kv (k, v) VALUES (1, 'USING TTL 5')", "INSERT INTO kv (k, v) VALUES (1, 'USING TTL 5')", 10},
		{"UPDATE kv SET v = 1 WHERE ttl = 5 AND k = 2", "UPDATE kv SET v = 1 WHERE ttl = 5 AND k = 2", 10},
		{"DELETE FROM kv WHERE k = 1", "DELETE FROM kv WHERE k = 1", 10},
		// Beyond Cassandra's limit the error quotes the value: it stays.
		{"INSERT INTO kv (k) VALUES (1) USING TTL 630720001", "INSERT INTO kv (k) VALUES (1) USING TTL 630720001", 10},
	} {
		got, changed := WithTTLElapsed(c.in, c.elapsed)
		if got != c.want || changed != (c.in != c.want) {
			t.Errorf("WithTTLElapsed(%q, %d) = %q, %v; want %q", c.in, c.elapsed, got, changed, c.want)
		}
	}
}
