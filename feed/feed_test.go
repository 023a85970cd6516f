package feed

import (
	"errors"
	"testing"

	"github.com/chorusdb/chorus/messages"
)

func order(epoch, seq uint64, kind messages.OrderKind, stmts ...string) messages.Order {
	o := messages.Order{Epoch: epoch, Seq: seq, Kind: kind, Timestamp: 1000 * int64(seq), Leader: "server0"}
	for i, s := range stmts {
		o.Writes = append(o.Writes, messages.Write{RequestID: reqID(seq, i), Stmt: s, Origin: "server1"})
	}
	return o
}

func reqID(seq uint64, i int) string { return messages.ChangeKey{Seq: seq, Index: uint32(i)}.String() }

// records is a replica's exactly-once record: every write of the given
// orders succeeded unless failed names it.
func records(failed map[string]bool, orders ...messages.Order) Outcomes {
	m := map[string]messages.Outcome{}
	for _, o := range orders {
		for i, w := range o.Writes {
			out := messages.Outcome{Seq: o.Seq, Index: uint32(i)}
			if failed[w.RequestID] {
				out.Code, out.Error = messages.CodeCQL, "Undefined column name nosuch"
			}
			m[w.RequestID] = out
		}
	}
	return func(id string, _ uint64, _ uint32) (messages.Outcome, bool, error) { o, ok := m[id]; return o, ok, nil }
}

func keys(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Token+":"+it.Change.Key().String())
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestSelectPublishesOnlySuccessfulWrites(t *testing.T) {
	o := order(1, 5, messages.OrderWrite,
		"INSERT INTO t (id) VALUES (1)",
		"UPDATE t SET nosuch = 1 WHERE id = 1",
		"TRUNCATE t",
		"CREATE TABLE u (id int PRIMARY KEY)",
		"BEGIN BATCH INSERT INTO a (id) VALUES (1); INSERT INTO b (id) VALUES (2); INSERT INTO a (id) VALUES (3) APPLY BATCH")
	var c Cursor
	items := must(t)(c.Select(o, records(map[string]bool{reqID(5, 1): true}, o)))
	equal(t, "published", keys(items), []string{"t:5.0", "_schema:5.2", "_schema:5.3", "a:5.4"})
	ch := items[0].Change
	if ch.Stmt != o.Writes[0].Stmt || ch.Timestamp != o.WriteTimestamp(0) || ch.RequestID != "5.0" || ch.Origin != "server1" ||
		ch.Kind != "INSERT" || ch.Table != "t" || ch.Outcome != messages.ChangeSuccess || ch.Epoch != 1 {
		t.Errorf("change: %+v", ch)
	}
	if b := items[3].Change; b.Table != "a" || len(b.Tables) != 2 || b.Tables[1] != "b" || b.Timestamp != o.WriteTimestamp(4) {
		t.Errorf("batch change: %+v", b)
	}
	if c.Last != (messages.ChangeKey{Seq: 5, Index: 4}) || !c.Started {
		t.Errorf("cursor after: %+v", c)
	}
}

func TestSelectSkipsWhatIsPublishedAndDeposedLeadersEntries(t *testing.T) {
	a := order(3, 10, messages.OrderWrite, "INSERT INTO t (id) VALUES (1)", "INSERT INTO t (id) VALUES (2)", "INSERT INTO t (id) VALUES (3)")
	marker := order(7, 11, messages.OrderEpoch)
	stale := order(3, 12, messages.OrderWrite, "INSERT INTO t (id) VALUES (4)") // the deposed leader's pipelined append
	b := order(7, 13, messages.OrderWrite, "INSERT INTO t (id) VALUES (5)")
	rec := records(nil, a, b) // a stale entry is never applied, so never recorded
	// Resuming after 10.1: the rest of ORDER 10, then past the marker.
	c := Cursor{Last: messages.ChangeKey{Seq: 10, Index: 1}, Started: true}
	var got []Item
	for _, o := range []messages.Order{a, marker, stale, b} {
		got = append(got, must(t)(c.Select(o, rec))...)
	}
	equal(t, "published", keys(got), []string{"t:10.2", "t:13.0"})
	// Selecting the same entries again publishes nothing: the cursor is past them.
	for _, o := range []messages.Order{a, b} {
		if again := must(t)(c.Select(o, rec)); len(again) > 0 {
			t.Errorf("seq %d selected twice: %v", o.Seq, keys(again))
		}
	}
}

func TestSelectReportsAWriteOfUnknownOutcomeOnTheGapSubject(t *testing.T) {
	o := order(1, 4, messages.OrderWrite, "INSERT INTO t (id) VALUES (1)", "INSERT INTO t (id) VALUES (2)")
	later := order(1, 9, messages.OrderWrite, "INSERT INTO t (id) VALUES (3)")
	later.Writes[0].RequestID = o.Writes[1].RequestID // the id reused: the record is of seq 9 now
	rec := records(nil, later)
	var c Cursor
	items := must(t)(c.Select(o, func(id string, seq uint64, idx uint32) (messages.Outcome, bool, error) {
		if id == o.Writes[0].RequestID {
			return messages.Outcome{}, false, nil // expired
		}
		return rec(id, seq, idx)
	}))
	equal(t, "published", keys(items), []string{"_gap:4.0", "_gap:4.1"})
	for _, it := range items {
		if it.Change.Outcome != messages.ChangeUnknown || it.Change.Error == "" {
			t.Errorf("gap item: %+v", it.Change)
		}
	}
}

// A record that cannot be read now (Cassandra down) stops the entry, and
// the cursor stays before it, so that it is selected again, never guessed.
func TestSelectStopsWhenAnOutcomeCannotBeRead(t *testing.T) {
	o := order(2, 7, messages.OrderWrite, "INSERT INTO t (id) VALUES (1)", "INSERT INTO t (id) VALUES (2)")
	ok := records(nil, o)
	down := errors.New("cassandra unavailable")
	c := Cursor{Last: messages.ChangeKey{Seq: 6}, Started: true, Epoch: 1}
	items, err := c.Select(o, func(id string, seq uint64, idx uint32) (messages.Outcome, bool, error) {
		if id == o.Writes[1].RequestID {
			return messages.Outcome{}, false, down
		}
		return ok(id, seq, idx)
	})
	if !errors.Is(err, down) || len(items) > 0 {
		t.Fatalf("got %v, %v", keys(items), err)
	}
	if c.Last != (messages.ChangeKey{Seq: 6}) || c.Epoch != 1 {
		t.Fatalf("the cursor moved: %+v", c)
	}
	equal(t, "again", keys(must(t)(c.Select(o, ok))), []string{"t:7.0", "t:7.1"})
}

func must(t *testing.T) func([]Item, error) []Item {
	return func(items []Item, err error) []Item {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
}

func TestFindStart(t *testing.T) {
	// Stream seqs 5..12 hold changes of these Chorus seqs.
	seqs := map[uint64]uint64{5: 3, 6: 3, 7: 4, 8: 8, 9: 8, 10: 8, 11: 9, 12: 15}
	reads := 0
	at := func(s uint64) (uint64, error) {
		reads++
		v, ok := seqs[s]
		if !ok {
			t.Fatalf("read of stream seq %d outside 5..12", s)
		}
		return v, nil
	}
	for _, c := range []struct{ from, want uint64 }{{1, 5}, {3, 5}, {4, 7}, {5, 8}, {8, 8}, {9, 11}, {10, 12}, {15, 12}, {16, 13}} {
		got, err := FindStart(5, 12, c.from, at)
		if err != nil || got != c.want {
			t.Errorf("FindStart(from %d) = %d, %v; want %d", c.from, got, err, c.want)
		}
	}
	if reads > 9*4 {
		t.Errorf("%d reads for 9 searches over 8 messages: not a binary search", reads)
	}
	if got, _ := FindStart(13, 12, 7, at); got != 13 {
		t.Errorf("empty stream: %d, want 13", got)
	}
	boom := errors.New("boom")
	if _, err := FindStart(5, 12, 7, func(uint64) (uint64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("a failed read: %v", err)
	}
}

func k(seq uint64, i uint32) messages.ChangeKey { return messages.ChangeKey{Seq: seq, Index: i} }

func TestDedup(t *testing.T) {
	var d Dedup
	var fresh []string
	for _, k := range []messages.ChangeKey{k(3, 0), k(3, 1), k(3, 1), k(3, 0), k(4, 0), k(2, 9), k(4, 1)} {
		if d.Fresh(k) {
			fresh = append(fresh, k.String())
		}
	}
	equal(t, "fresh", fresh, []string{"3.0", "3.1", "4.0", "4.1"})
	if d.Dropped != 3 {
		t.Errorf("dropped %d, want 3", d.Dropped)
	}
}

func TestChangeKeyRoundTrip(t *testing.T) {
	k := messages.ChangeKey{Seq: 42, Index: 7}
	got, err := messages.ParseChangeKey(k.String())
	if err != nil || got != k {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "42", "42.", "x.1", "1.x", "1.2.3"} {
		if _, err := messages.ParseChangeKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestEncodeIsReadable(t *testing.T) {
	b, err := Encode(messages.Change{Seq: 2, Stmt: "CREATE TABLE g (id int PRIMARY KEY, e list<int>) -- a & b", Outcome: "SUCCESS"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":2,"index":0,"table":"","kind":"","stmt":"CREATE TABLE g (id int PRIMARY KEY, e list<int>) -- a & b","timestamp":0,"request_id":"","origin":"","epoch":0,"outcome":"SUCCESS"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
