package cql

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// at is a fixed write time with sub-millisecond digits.
var at = time.Date(2025, 11, 26, 9, 8, 7, 123456789, time.UTC)

// zeros is randomness of all zero bytes, so expected literals are fixed.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Literals of at with zero randomness.
const (
	tu0  = "(timeuuid)6c258c07-caa7-11f0-8000-010000000000"
	tu1  = "(timeuuid)6c258c08-caa7-11f0-8000-010000000000"
	tu2  = "(timeuuid)6c258c09-caa7-11f0-8000-010000000000"
	uu   = "(uuid)00000000-0000-4000-8000-000000000000"
	ts   = "(timestamp)1764148087123"
	date = "(date)'2025-11-26'"
	tm   = "(time)'09:08:07.123456789'"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"now", "INSERT INTO t (k, v) VALUES (1, now())", "INSERT INTO t (k, v) VALUES (1, " + tu0 + ")"},
		{"each now distinct", "INSERT INTO t (a, b, c) VALUES (now(), now(), currentTimeUUID())",
			"INSERT INTO t (a, b, c) VALUES (" + tu0 + ", " + tu1 + ", " + tu2 + ")"},
		{"case and spaces", "INSERT INTO t (k, v) VALUES (1, NOW ( ))", "INSERT INTO t (k, v) VALUES (1, " + tu0 + ")"},
		{"comment inside call", "INSERT INTO t (k, v) VALUES (1, now /* x */ ( ) )", "INSERT INTO t (k, v) VALUES (1, " + tu0 + " )"},
		{"currenttimeuuid", "UPDATE t SET v = currenttimeuuid() WHERE k = 1", "UPDATE t SET v = " + tu0 + " WHERE k = 1"},
		{"current_timeuuid", "UPDATE t SET v = current_timeuuid() WHERE k = 1", "UPDATE t SET v = " + tu0 + " WHERE k = 1"},
		{"uuid", "INSERT INTO t (id) VALUES (uuid())", "INSERT INTO t (id) VALUES (" + uu + ")"},
		{"currentTimestamp", "INSERT INTO t (k, ts) VALUES (1, currentTimestamp())", "INSERT INTO t (k, ts) VALUES (1, " + ts + ")"},
		{"current_timestamp", "INSERT INTO t (k, ts) VALUES (1, CURRENT_TIMESTAMP())", "INSERT INTO t (k, ts) VALUES (1, " + ts + ")"},
		{"currentDate", "INSERT INTO t (k, d) VALUES (1, currentDate())", "INSERT INTO t (k, d) VALUES (1, " + date + ")"},
		{"current_date", "INSERT INTO t (k, d) VALUES (1, current_date())", "INSERT INTO t (k, d) VALUES (1, " + date + ")"},
		{"currentTime", "INSERT INTO t (k, d) VALUES (1, currentTime())", "INSERT INTO t (k, d) VALUES (1, " + tm + ")"},
		{"current_time", "INSERT INTO t (k, d) VALUES (1, current_time())", "INSERT INTO t (k, d) VALUES (1, " + tm + ")"},
		{"system qualified", "INSERT INTO t (k, v) VALUES (1, system.now())", "INSERT INTO t (k, v) VALUES (1, " + tu0 + ")"},
		{"system quoted qualified", `INSERT INTO t (k, v) VALUES (1, "system"."uuid"())`, "INSERT INTO t (k, v) VALUES (1, " + uu + ")"},
		{"quoted lower name", `INSERT INTO t (k, v) VALUES (1, "now"())`, "INSERT INTO t (k, v) VALUES (1, " + tu0 + ")"},
		{"nested", "INSERT INTO t (k, ts) VALUES (1, toTimestamp(now()))", "INSERT INTO t (k, ts) VALUES (1, toTimestamp(" + tu0 + "))"},
		{"nested unix", "INSERT INTO t (k, n) VALUES (1, toUnixTimestamp(currentTimestamp()))", "INSERT INTO t (k, n) VALUES (1, toUnixTimestamp(" + ts + "))"},
		{"where", "DELETE FROM t WHERE k = 1 AND ts < currentTimestamp()", "DELETE FROM t WHERE k = 1 AND ts < " + ts},
		{"lwt", "UPDATE t SET v = 1 WHERE k = 1 IF ts < currentTimestamp()", "UPDATE t SET v = 1 WHERE k = 1 IF ts < " + ts},
		{"collection", "UPDATE t SET l = l + [now()], m[now()] = uuid() WHERE k = 1",
			"UPDATE t SET l = l + [" + tu0 + "], m[" + tu1 + "] = " + uu + " WHERE k = 1"},
		{"arithmetic", "UPDATE t SET ts = currentTimestamp() - 1d WHERE k = 1", "UPDATE t SET ts = " + ts + " - 1d WHERE k = 1"},
		{"batch", "BEGIN BATCH INSERT INTO t (k, v) VALUES (1, now()); INSERT INTO t (k, v) VALUES (2, now()); APPLY BATCH",
			"BEGIN BATCH INSERT INTO t (k, v) VALUES (1, " + tu0 + "); INSERT INTO t (k, v) VALUES (2, " + tu1 + "); APPLY BATCH"},
		{"glued keyword after", "UPDATE t SET v = 1 WHERE k = 1 IF ts < currentTimestamp()AND x = 1",
			"UPDATE t SET v = 1 WHERE k = 1 IF ts < " + ts + " AND x = 1"},
		{"glued string after", "INSERT INTO t (a) VALUES (currentDate()'x')", "INSERT INTO t (a) VALUES (" + date + " 'x')"},
		{"glued comment after", "INSERT INTO t (a) VALUES (now()--c\n)", "INSERT INTO t (a) VALUES (" + tu0 + " --c\n)"},
		{"at end of text", "UPDATE t SET v = 1 WHERE ts = now()", "UPDATE t SET v = 1 WHERE ts = " + tu0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := Rewrite(tt.in, at, zeros{})
			if err != nil {
				t.Fatalf("Rewrite(%q): %v", tt.in, err)
			}
			if got != tt.want || !changed {
				t.Errorf("Rewrite(%q)\n got %q, %v\nwant %q, true", tt.in, got, changed, tt.want)
			}
			// The result is still one valid statement of the same kind,
			// and rewriting it again changes nothing.
			st0, err0 := Parse(tt.in, ks)
			st1, err1 := Parse(got, ks)
			if err0 != nil || err1 != nil || st0.Kind != st1.Kind {
				t.Errorf("Parse before %v (%v), after %v (%v)", st0.Kind, err0, st1.Kind, err1)
			}
			again, changed, err := Rewrite(got, at, zeros{})
			if err != nil || changed || again != got {
				t.Errorf("second Rewrite changed %q to %q (%v)", got, again, err)
			}
		})
	}
}

func TestRewriteUnchanged(t *testing.T) {
	tests := []string{
		"",
		"SELECT * FROM t",
		"INSERT INTO t (k, v) VALUES (1, 'now()')",
		"INSERT INTO t (k, v) VALUES (1, $$uuid()$$)",
		"INSERT INTO t (k, v) VALUES (1, 2) -- now()",
		"INSERT INTO t (k, v) VALUES (1, 2) /* uuid() */",
		`INSERT INTO t (k, "now()") VALUES (1, 2)`,
		"INSERT INTO t (k, now) VALUES (1, 2)",
		"UPDATE t SET now = 1 WHERE uuid = 2",
		"UPDATE t SET now = now + 1 WHERE k = 1",
		"INSERT INTO now (uuid) VALUES (1)",
		"CREATE TABLE now (now timestamp PRIMARY KEY, uuid uuid, d date)",
		"CREATE TYPE x (a uuid)",
		"CREATE INDEX ON t (now)",
		"INSERT INTO t (k, v) VALUES (1, now(1))",
		`INSERT INTO t (k, v) VALUES (1, "NOW"())`,
		"INSERT INTO t (k, v) VALUES (1, myks.now())",
		"INSERT INTO t (k, v) VALUES (1, toTimestamp(6c258c07-caa7-11f0-8000-010000000000))",
		"INSERT INTO t (k, v) VALUES (1, minTimeuuid('2025-01-01'))",
		"INSERT INTO t (k, v) VALUES (1, (uuid)?)",
		"INSERT INTO t (k, v) VALUES (1, 'Now is the time')",
		"INSERT INTO t (k, v) VALUES (1, ' now')",
		`INSERT INTO t JSON '{"now": 1, "k": "nowhere"}'`,
		"SELECT * FROM t WHERE ts < 'now'",
		"CREATE TABLE t (k int PRIMARY KEY) WITH comment = 'now'",
	}
	for _, in := range tests {
		got, changed, err := Rewrite(in, at, failingReader{})
		if err != nil || changed || got != in {
			t.Errorf("Rewrite(%q) = %q, %v, %v; want it unchanged", in, got, changed, err)
		}
	}
}

// failingReader fails every read: randomness must be read only when needed.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestRewriteRejectsNowString(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"insert", "INSERT INTO t (k, ts) VALUES (1, 'now')", "the string 'now' at byte 33"},
		{"any case", "INSERT INTO t (k, ts) VALUES (1, 'NoW')", "'NoW'"},
		{"dollar", "INSERT INTO t (k, ts) VALUES (1, $$now$$)", "$$now$$"},
		{"update", "UPDATE t SET ts = 'now' WHERE k = 1", "currentTimestamp()"},
		{"delete where", "DELETE FROM t WHERE k = 1 AND ts = 'now'", "'now'"},
		{"collection", "UPDATE t SET s = s + {'now'} WHERE k = 1", "'now'"},
		{"batch", "BEGIN BATCH INSERT INTO t (k, ts) VALUES (1, 'now') APPLY BATCH", "'now'"},
		{"insert json value", `INSERT INTO t JSON '{"k": 1, "ts": "now"}'`, `holds the value "now"`},
		{"insert json escaped", `INSERT INTO t JSON '{"k": 1, "ts": "\u006Eow"}'`, `"now"`},
		{"insert json nested key", `INSERT INTO t JSON '{"k": 1, "m": {"now": 2}}'`, `"now"`},
		{"insert json list", `INSERT INTO t JSON '{"k": 1, "l": ["a", "NOW"]}'`, `"now"`},
		{"fromJson", `INSERT INTO t (k, ts) VALUES (1, fromJson('"now"'))`, `"now"`},
		{"from_json map key", `INSERT INTO t (k, m) VALUES (1, from_json('{"now": 1}'))`, `"now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := Rewrite(tt.in, at, zeros{})
			if !errors.Is(err, ErrNondeterministic) {
				t.Fatalf("Rewrite(%q) = %q, %v, %v; want ErrNondeterministic", tt.in, got, changed, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestRewriteTimeUUID(t *testing.T) {
	rnd := bytes.NewReader([]byte{0xff, 0xee, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66})
	out, _, err := Rewrite("INSERT INTO t (a, b) VALUES (now(), now())", at, rnd)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\(timeuuid\)([0-9a-f-]{36})`)
	m := re.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("want two timeuuids in %q", out)
	}
	for i, sub := range m {
		b, err := hex.DecodeString(strings.ReplaceAll(sub[1], "-", ""))
		if err != nil {
			t.Fatal(err)
		}
		if b[6]>>4 != 1 {
			t.Errorf("version %d, want 1", b[6]>>4)
		}
		if b[8]>>6 != 2 {
			t.Errorf("variant bits %b, want 10", b[8]>>6)
		}
		if b[8]&0x3f != 0x3f || b[9] != 0xee {
			t.Errorf("clock sequence %x%x does not come from rnd", b[8], b[9])
		}
		if !bytes.Equal(b[10:], []byte{0x11 | 0x01, 0x22, 0x33, 0x44, 0x55, 0x66}) {
			t.Errorf("node %x does not come from rnd with the multicast bit", b[10:])
		}
		// Decode the time: it is at, plus one tick per earlier timeuuid.
		ticks := uint64(b[6]&0x0f)<<56 | uint64(b[7])<<48 | uint64(b[4])<<40 | uint64(b[5])<<32 |
			uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		ns := int64(ticks-gregorianOffset*10_000_000) * 100
		want := at.Truncate(100 * time.Nanosecond).Add(time.Duration(i) * 100 * time.Nanosecond)
		if got := time.Unix(0, ns).UTC(); !got.Equal(want) {
			t.Errorf("timeuuid %d is at %v, want %v", i, got, want)
		}
	}
}

func TestRewriteUUIDv4(t *testing.T) {
	rnd := bytes.NewReader(bytes.Repeat([]byte{0xff}, 32))
	out, _, err := Rewrite("INSERT INTO t (a, b) VALUES (uuid(), uuid())", at, rnd)
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO t (a, b) VALUES ((uuid)ffffffff-ffff-4fff-bfff-ffffffffffff, (uuid)ffffffff-ffff-4fff-bfff-ffffffffffff)"
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestRewriteDeterministic(t *testing.T) {
	in := "BEGIN BATCH INSERT INTO t (a, b, c) VALUES (now(), uuid(), currentTime()); APPLY BATCH"
	seed := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 10)
	a, _, err1 := Rewrite(in, at, bytes.NewReader(seed))
	b, _, err2 := Rewrite(in, at, bytes.NewReader(seed))
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("same inputs gave %q (%v) and %q (%v)", a, err1, b, err2)
	}
	c, _, _ := Rewrite(in, at.Add(time.Millisecond), bytes.NewReader(seed))
	if c == a {
		t.Fatalf("another write time gave the same text %q", c)
	}
}

func TestRewriteDefaultRandomness(t *testing.T) {
	a, _, err := Rewrite("INSERT INTO t (id) VALUES (uuid())", at, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Rewrite("INSERT INTO t (id) VALUES (uuid())", at, nil)
	if a == b {
		t.Fatalf("two random uuids are equal: %q", a)
	}
}

func TestRewriteErrors(t *testing.T) {
	if _, _, err := Rewrite("INSERT INTO t (id) VALUES (uuid())", at, failingReader{}); err == nil || !strings.Contains(err.Error(), "randomness for uuid()") {
		t.Errorf("failing randomness: %v", err)
	}
	if _, _, err := Rewrite("INSERT INTO t (id) VALUES (now())", at, failingReader{}); err == nil || !strings.Contains(err.Error(), "randomness for now()") {
		t.Errorf("failing randomness: %v", err)
	}
	if _, _, err := Rewrite("INSERT INTO t (id) VALUES ('x)", at, zeros{}); !errors.Is(err, ErrSyntax) {
		t.Errorf("unterminated string: %v", err)
	}
	old := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := Rewrite("INSERT INTO t (id) VALUES (now())", old, zeros{}); !errors.Is(err, ErrNondeterministic) {
		t.Errorf("write time before timeuuids: %v", err)
	}
	far := time.Date(6000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := Rewrite("INSERT INTO t (id) VALUES (now())", far, zeros{}); !errors.Is(err, ErrNondeterministic) {
		t.Errorf("write time after timeuuids: %v", err)
	}
	if _, _, err := Rewrite("INSERT INTO t (d) VALUES (currentDate())", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), zeros{}); !errors.Is(err, ErrNondeterministic) {
		t.Errorf("date after 9999: %v", err)
	}
	// The write time's zone does not matter: literals are in UTC.
	paris := time.FixedZone("CET", 3600)
	got, _, err := Rewrite("INSERT INTO t (d, t) VALUES (currentDate(), currentTime())", time.Date(2025, 11, 27, 0, 30, 0, 0, paris), zeros{})
	if err != nil || got != "INSERT INTO t (d, t) VALUES ((date)'2025-11-26', (time)'23:30:00.000000000')" {
		t.Errorf("zoned write time: %q, %v", got, err)
	}
}

func TestParseReportsNondeterministicCalls(t *testing.T) {
	for text, want := range map[string]bool{
		"UPDATE t SET a = 1 WHERE k = 1":                              false,
		"INSERT INTO t (k, v) VALUES (1, now())":                      true,
		"INSERT INTO t (k, v) VALUES (1, system.uuid())":              true,
		"INSERT INTO t (k, v) VALUES (1, ks.now())":                   false, // another keyspace's function: Parse rejects it for a write, not here
		"UPDATE t SET now = 1 WHERE k = 1":                            false,
		"INSERT INTO t (k, v) VALUES (1, 'now()')":                    false,
		"SELECT toTimestamp(currentTimeUUID()) FROM t":                true,
		"INSERT INTO t (k, v) VALUES (1, NOW())":                      true,
		`INSERT INTO t (k, v) VALUES (1, "now"())`:                    true,
		"INSERT INTO t (k, v) VALUES (1, currentDate(x))":             false,
		"BEGIN BATCH UPDATE t SET v = uuid() WHERE k = 1 APPLY BATCH": true,
	} {
		st, err := Parse(text, "server0")
		if err != nil {
			if !want {
				continue // rejected for isolation: nothing to report
			}
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if st.Nondeterministic != want {
			t.Errorf("Parse(%q).Nondeterministic = %v, want %v", text, st.Nondeterministic, want)
		}
	}
}

// A Statement whose Text a caller replaced is lexed again, not rewritten
// with the tokens of the text Parse saw.
func TestStatementRewriteOfChangedText(t *testing.T) {
	st, err := Parse("UPDATE t SET a = 1 WHERE k = 1", "server0")
	if err != nil {
		t.Fatal(err)
	}
	st.Text = "UPDATE t SET a = currentTimestamp() WHERE k = 1"
	out, changed, err := st.Rewrite(time.UnixMilli(1700000000000), zeros{})
	if err != nil || !changed || out != "UPDATE t SET a = (timestamp)1700000000000 WHERE k = 1" {
		t.Fatalf("Rewrite = %q, %v, %v", out, changed, err)
	}
}
