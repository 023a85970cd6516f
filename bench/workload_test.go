package bench

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusdb/chorus/cql"
)

func TestWorkloadIsDeterministic(t *testing.T) {
	w := DefaultWorkload
	for i := range int64(1000) {
		if a, b := w.Statement(i), w.Statement(i); a != b {
			t.Fatalf("op %d: %q then %q", i, a, b)
		}
	}
	other := w
	other.Seed = 2
	same := 0
	for i := range int64(1000) {
		if w.Statement(i) == other.Statement(i) {
			same++
		}
	}
	if same > 700 {
		t.Fatalf("another seed changed only %d of 1000 statements", 1000-same)
	}
}

var appendRE = regexp.MustCompile(`^UPDATE bench_list SET events = events \+ \[(\d+)\] WHERE id = (\d+)$`)

func TestWorkloadMixAndKeys(t *testing.T) {
	for _, c := range []struct {
		mix    float64
		lo, hi int // appends among 10000
	}{{0, 0, 0}, {1, 10000, 10000}, {0.5, 4800, 5200}, {0.1, 900, 1100}} {
		w := Workload{Keys: 10, Mix: c.mix, Seed: 1}
		appends := 0
		keys := map[int]int{}
		for i := range int64(10000) {
			kind, s := w.Op(i)
			if kind == KindAppend {
				appends++
				m := appendRE.FindStringSubmatch(s)
				if m == nil {
					t.Fatalf("append %q", s)
				}
				if m[1] != strconv.FormatInt(i, 10) {
					t.Fatalf("op %d appends %s", i, m[1])
				}
				k, _ := strconv.Atoi(m[2])
				keys[k]++
			} else if !strings.HasPrefix(s, "INSERT INTO bench_wide (id, a, b, c, d) VALUES ("+strconv.FormatInt(i, 10)+", ") {
				t.Fatalf("insert %q", s)
			}
		}
		if appends < c.lo || appends > c.hi {
			t.Errorf("mix %v: %d appends of 10000, want %d..%d", c.mix, appends, c.lo, c.hi)
		}
		if appends > 0 && len(keys) != 10 {
			t.Errorf("mix %v: keys used %v, want all 10", c.mix, keys)
		}
		for k := range keys {
			if k < 0 || k >= 10 {
				t.Errorf("key %d out of range", k)
			}
		}
	}
}

// The statements are writes Chorus accepts and does not rewrite: no
// keyspace, nothing non-deterministic.
func TestWorkloadStatementsAreDeterministicWrites(t *testing.T) {
	for _, w := range Workloads {
		kinds := map[Kind]int{}
		for i := range int64(200) {
			kind, s := w.Op(i)
			kinds[kind]++
			st, err := cql.Parse(s, "ks")
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			want := cql.KindInsert
			if kind != KindInsert {
				want = cql.KindUpdate
			}
			if st.Kind != want || st.Conditional || st.UsingTimestamp {
				t.Fatalf("%q parsed as %+v", s, st)
			}
			out, changed, err := cql.Rewrite(s, time.Unix(0, 0), bytes.NewReader(make([]byte, 64)))
			if err != nil || changed || out != s {
				t.Fatalf("%q rewritten to %q (changed %v, err %v)", s, out, changed, err)
			}
		}
		if len(kinds) == 0 {
			t.Fatalf("workload %s: no statements", w.Name)
		}
	}
	for _, s := range SetupStatements {
		if st, err := cql.Parse(s, "ks"); err != nil || st.Kind != cql.KindCreateTable {
			t.Fatalf("%q: %+v %v", s, st, err)
		}
	}
}

var updateRE = regexp.MustCompile(`^UPDATE bench_wide SET a = -?\d+, b = 'row (\d+) of the chorus benchmark, some forty bytes of text', c = \d+\.25, d = \d+ WHERE id = (\d+)$`)

// The presets send what their names say: appends only; INSERTs and UPDATEs
// of regular columns, half each, no appends; and Updates = 0 leaves the
// mixed workload's statements as they were before UPDATEs existed.
func TestWorkloadPresets(t *testing.T) {
	count := func(w Workload) map[Kind]int {
		kinds := map[Kind]int{}
		for i := range int64(10000) {
			kind, s := w.Op(i)
			kinds[kind]++
			if kind == KindUpdate {
				m := updateRE.FindStringSubmatch(s)
				if m == nil {
					t.Fatalf("update %q", s)
				}
				if k, _ := strconv.Atoi(m[2]); m[1] != strconv.FormatInt(i, 10) || k >= w.Keys {
					t.Fatalf("op %d: %q", i, s)
				}
			}
		}
		return kinds
	}
	if k := count(AppendWorkload); k[KindAppend] != 10000 || AppendWorkload.Keys != 64 {
		t.Errorf("append: %v", k)
	}
	if k := count(IdempotentWorkload); k[KindAppend] != 0 || k[KindUpdate] < 4800 || k[KindUpdate] > 5200 || k[KindInsert]+k[KindUpdate] != 10000 {
		t.Errorf("idempotent: %v", k)
	}
	if k := count(MixedWorkload); k[KindUpdate] != 0 {
		t.Errorf("mixed: %v", k)
	}
	// The statement of op 3 of the mixed workload, as it always was.
	if _, s := MixedWorkload.Op(3); !strings.HasPrefix(s, "INSERT INTO bench_wide (id, a, b, c, d) VALUES (3, ") &&
		!strings.HasPrefix(s, "UPDATE bench_list SET events = events + [3] WHERE id = ") {
		t.Errorf("mixed op 3: %q", s)
	}
	for name, w := range Workloads {
		if w.Name != name || w.Validate() != nil || w.Describe() == "" {
			t.Errorf("preset %s: %+v", name, w)
		}
	}
	if d := IdempotentWorkload.Describe(); !strings.Contains(d, "50% UPDATEs of regular columns") || !strings.Contains(d, "50% INSERTs") || strings.Contains(d, "append") {
		t.Errorf("describe %q", d)
	}
}

func TestWorkloadValidate(t *testing.T) {
	if err := DefaultWorkload.Validate(); err != nil {
		t.Fatal(err)
	}
	err := Workload{Keys: 0, Mix: 1.5, Updates: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "keys must be at least 1") || !strings.Contains(err.Error(), "mix must be between 0 and 1") ||
		!strings.Contains(err.Error(), "updates must be between 0 and 1") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkWorkloadStatement(b *testing.B) {
	w := DefaultWorkload
	for i := range b.N {
		_ = w.Statement(int64(i))
	}
}
