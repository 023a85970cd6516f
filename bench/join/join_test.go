package join

import (
	"fmt"
	"testing"
)

// The crafted history overwrites the fixed key set in turn, each write
// with a value of its own, and Orders covers every write.
func TestStatements(t *testing.T) {
	if got := Orders(100_000, 16); got != 6250 {
		t.Errorf("Orders(100000, 16) = %d", got)
	}
	if got := Orders(17, 16); got != 2 {
		t.Errorf("Orders(17, 16) = %d", got)
	}
	stmts := Statements(2, 4, 10)
	want := []string{
		"INSERT INTO kv (k, v) VALUES (8, 'w8')", "INSERT INTO kv (k, v) VALUES (9, 'w9')",
		"INSERT INTO kv (k, v) VALUES (0, 'w10')", "INSERT INTO kv (k, v) VALUES (1, 'w11')",
	}
	if fmt.Sprint(stmts) != fmt.Sprint(want) {
		t.Errorf("Statements(2, 4, 10) = %q", stmts)
	}
}

func TestLastWrite(t *testing.T) {
	for _, c := range []struct{ k, writes, keys, want int }{
		{0, 1, 10, 0}, {3, 3, 10, -1}, {3, 4, 10, 3}, {3, 100, 10, 93}, {9, 100, 10, 99}, {0, 100, 10, 90}, {5, 16, 10, 15},
	} {
		if got := LastWrite(c.k, c.writes, c.keys); got != c.want {
			t.Errorf("LastWrite(%d, %d, %d) = %d, want %d", c.k, c.writes, c.keys, got, c.want)
		}
	}
}
