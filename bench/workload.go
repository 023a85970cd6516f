package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Tables of the workload. Setup creates them; their DDL is idempotent.
const (
	ListTable = "bench_list"
	WideTable = "bench_wide"
)

// SetupStatements create the workload's tables (IF NOT EXISTS), in order.
var SetupStatements = []string{
	"CREATE TABLE IF NOT EXISTS " + ListTable + " (id int PRIMARY KEY, events list<int>)",
	"CREATE TABLE IF NOT EXISTS " + WideTable + " (id bigint PRIMARY KEY, a int, b text, c double, d timestamp)",
}

// Kind is what an operation of the workload does.
type Kind uint8

const (
	KindAppend Kind = iota // UPDATE bench_list SET events = events + [S] WHERE id = K
	KindInsert             // INSERT INTO bench_wide (id, a, b, c, d) VALUES (...)
	KindUpdate             // UPDATE bench_wide SET a = .., b = .., c = .., d = .. WHERE id = K
)

func (k Kind) String() string {
	switch k {
	case KindAppend:
		return "append"
	case KindUpdate:
		return "update"
	}
	return "insert"
}

// Workload describes the statements: Mix is the fraction of operations
// that are list appends (not idempotent: applied twice, they append twice);
// of the others, Updates is the fraction that are UPDATEs of regular
// columns of bench_wide, the rest INSERTs of new bench_wide rows (both
// idempotent under the leader's fixed timestamp). Appends and UPDATEs go to
// Keys keys. Seed varies the choice of kind and key. Name is the preset it
// came from, for reports.
type Workload struct {
	Name    string
	Keys    int
	Mix     float64
	Updates float64
	Seed    uint64
}

// The presets of `chorus bench --workload`.
var (
	// MixedWorkload is 100 keys, half appends, half inserts.
	MixedWorkload = Workload{Name: "mixed", Keys: 100, Mix: 0.5, Seed: 1}
	// AppendWorkload is list appends only, to 64 keys: the shape of
	// load the targets of issue 12 were measured with.
	AppendWorkload = Workload{Name: "append", Keys: 64, Mix: 1, Seed: 1}
	// IdempotentWorkload is half INSERTs of new rows, half UPDATEs of
	// regular columns of 64 rows: writes that can be applied twice
	// without harm.
	IdempotentWorkload = Workload{Name: "idempotent", Keys: 64, Mix: 0, Updates: 0.5, Seed: 1}
)

// DefaultWorkload is the workload of `chorus bench` without --workload.
var DefaultWorkload = MixedWorkload

// Workloads are the presets by name.
var Workloads = map[string]Workload{
	MixedWorkload.Name: MixedWorkload, AppendWorkload.Name: AppendWorkload, IdempotentWorkload.Name: IdempotentWorkload,
}

// WorkloadNames are the presets' names, for usage messages.
const WorkloadNames = "append, idempotent or mixed"

// Validate names every bad field.
func (w Workload) Validate() error {
	var errs []error
	if w.Keys < 1 {
		errs = append(errs, fmt.Errorf("keys must be at least 1, got %d", w.Keys))
	}
	if !(w.Mix >= 0 && w.Mix <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("mix must be between 0 and 1, got %v", w.Mix))
	}
	if !(w.Updates >= 0 && w.Updates <= 1) {
		errs = append(errs, fmt.Errorf("updates must be between 0 and 1, got %v", w.Updates))
	}
	return errors.Join(errs...)
}

// baseTime is the wide rows' timestamp origin, 2024-01-01T00:00:00Z in
// milliseconds: literal values, the same on every replica.
const baseTime = 1704067200000

// Op is operation i of the workload.
func (w Workload) Op(i int64) (Kind, string) {
	h := splitmix64(w.Seed ^ uint64(i)*0x9e3779b97f4a7c15)
	// The top 53 bits as a fraction in [0, 1).
	if float64(h>>11)/(1<<53) < w.Mix {
		key := int((h & 0xffffffff) % uint64(w.Keys))
		return KindAppend, "UPDATE " + ListTable + " SET events = events + [" + strconv.FormatInt(i%(1<<31), 10) +
			"] WHERE id = " + strconv.Itoa(key)
	}
	var b strings.Builder
	b.Grow(200)
	// A second draw, so that Updates = 0 leaves the other statements as
	// they were.
	if h2 := splitmix64(h); float64(h2>>11)/(1<<53) < w.Updates {
		key := int((h2 & 0xffffffff) % uint64(w.Keys))
		b.WriteString("UPDATE " + WideTable + " SET a = ")
		b.WriteString(strconv.FormatInt(int64(int32(h)), 10))
		b.WriteString(", b = 'row ")
		b.WriteString(strconv.FormatInt(i, 10))
		b.WriteString(" of the chorus benchmark, some forty bytes of text', c = ")
		b.WriteString(strconv.FormatInt(i%100000, 10))
		b.WriteString(".25, d = ")
		b.WriteString(strconv.FormatInt(baseTime+i*1000, 10))
		b.WriteString(" WHERE id = ")
		b.WriteString(strconv.Itoa(key))
		return KindUpdate, b.String()
	}
	b.WriteString("INSERT INTO " + WideTable + " (id, a, b, c, d) VALUES (")
	b.WriteString(strconv.FormatInt(i, 10))
	b.WriteString(", ")
	b.WriteString(strconv.FormatInt(int64(int32(h)), 10))
	b.WriteString(", 'row ")
	b.WriteString(strconv.FormatInt(i, 10))
	b.WriteString(" of the chorus benchmark, some forty bytes of text', ")
	b.WriteString(strconv.FormatInt(i%100000, 10))
	b.WriteString(".25, ")
	b.WriteString(strconv.FormatInt(baseTime+i*1000, 10))
	b.WriteString(")")
	return KindInsert, b.String()
}

// Describe says in words what the workload sends, for reports.
func (w Workload) Describe() string {
	var parts []string
	pct := func(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }
	if w.Mix > 0 {
		parts = append(parts, fmt.Sprintf("%s list appends `UPDATE %s SET events = events + [S] WHERE id = K` to %d keys", pct(w.Mix), ListTable, w.Keys))
	}
	if rest := 1 - w.Mix; rest > 0 {
		if u := rest * w.Updates; u > 0 {
			parts = append(parts, fmt.Sprintf("%s UPDATEs of regular columns `UPDATE %s SET a = .., b = .., c = .., d = .. WHERE id = K` of %d rows", pct(u), WideTable, w.Keys))
		}
		if ins := rest * (1 - w.Updates); ins > 0 {
			parts = append(parts, fmt.Sprintf("%s INSERTs of new rows `INSERT INTO %s (id, a, b, c, d) VALUES (...)`", pct(ins), WideTable))
		}
	}
	return strings.Join(parts, ", ")
}

// Statement is the CQL text of operation i.
func (w Workload) Statement(i int64) string {
	_, s := w.Op(i)
	return s
}

// splitmix64 is a fast, well-mixing hash of x (Steele, Lea, Flood 2014).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
