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
)

func (k Kind) String() string {
	if k == KindAppend {
		return "append"
	}
	return "insert"
}

// Workload describes the statements: Keys list keys receive the appends;
// Mix is the fraction of operations that are list appends (0: only wide
// INSERTs, 1: only appends). Seed varies the choice of kind and key.
type Workload struct {
	Keys int
	Mix  float64
	Seed uint64
}

// DefaultWorkload is 100 keys, half appends, half inserts.
var DefaultWorkload = Workload{Keys: 100, Mix: 0.5, Seed: 1}

// Validate names every bad field.
func (w Workload) Validate() error {
	var errs []error
	if w.Keys < 1 {
		errs = append(errs, fmt.Errorf("keys must be at least 1, got %d", w.Keys))
	}
	if !(w.Mix >= 0 && w.Mix <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("mix must be between 0 and 1, got %v", w.Mix))
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
	b.Grow(160)
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
