package integration

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checker itself must catch each anomaly (run without servers).
func TestCheckHistoryCatchesAnomalies(t *testing.T) {
	base := time.Unix(0, 0)
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	h := func() []*op {
		return []*op{
			{client: 0, key: 1, value: 1, call: at(0), ret: at(1), ok: true},
			{client: 0, key: 1, value: 2, call: at(2), ret: at(3), ok: true},
			{client: 1, key: 1, value: 3, call: at(2), ok: false}, // unknown outcome
		}
	}
	cases := []struct {
		name  string
		final []int64
		bad   bool
	}{
		{"exact", []int64{1, 2}, false},
		{"unknown applied", []int64{1, 3, 2}, false},
		{"acknowledged missing", []int64{1}, true},
		{"applied twice", []int64{1, 2, 2}, true},
		{"real-time order broken", []int64{2, 1}, true},
		{"never sent", []int64{1, 2, 9}, true},
	}
	for _, c := range cases {
		_, _, problems := checkHistory(h(), map[int][]int64{1: c.final})
		if (len(problems) > 0) != c.bad {
			t.Errorf("%s: checker found %q, want problems=%v", c.name, problems, c.bad)
		}
	}
}

// The porcupine check must accept a linearizable history of appends and
// reads and reject a stale read (run without servers).
func TestPorcupineCatchesStaleReads(t *testing.T) {
	base := time.Unix(0, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	appends := []*op{
		{client: 0, key: 1, value: 1, call: at(0), ret: at(10), ok: true},
		{client: 0, key: 1, value: 2, call: at(20), ret: at(30), ok: true},
		{client: 1, key: 1, value: 3, call: at(25)}, // unknown outcome, applied
		{client: 1, key: 2, value: 4, call: at(25)}, // unknown outcome, not applied
	}
	final := map[int][]int64{1: {1, 2, 3}, 2: nil}
	cases := []struct {
		name  string
		reads []*read
		want  porcupine.CheckResult
	}{
		{"fresh reads", []*read{
			{key: 1, call: at(11), ret: at(19), list: []int64{1}},
			{key: 1, call: at(31), ret: at(40), list: []int64{1, 2}},
			{key: 1, call: at(41), ret: at(50), list: []int64{1, 2, 3}},
			{key: 2, call: at(41), ret: at(50), list: nil},
		}, porcupine.Ok},
		{"concurrent read may see either", []*read{{key: 1, call: at(21), ret: at(29), list: []int64{1, 2}}}, porcupine.Ok},
		{"stale read", []*read{{key: 1, call: at(31), ret: at(40), list: []int64{1}}}, porcupine.Illegal},
		{"read goes back in time", []*read{
			{key: 1, call: at(41), ret: at(50), list: []int64{1, 2, 3}},
			{key: 1, call: at(51), ret: at(60), list: []int64{1, 2}},
		}, porcupine.Illegal},
		{"read of an append never applied", []*read{{key: 2, call: at(41), ret: at(50), list: []int64{4}}}, porcupine.Illegal},
	}
	for _, c := range cases {
		ops := porcupineHistory(appends, c.reads, final, base)
		if res := porcupine.CheckOperationsTimeout(listModel(final), ops, 10*time.Second); res != c.want {
			t.Errorf("%s: porcupine says %s, want %s", c.name, res, c.want)
		}
	}
}

// A long history (the length of a 3-minute chaos run and more) is decided
// well within porcupineTimeout, and one stale read in it is still found.
func TestPorcupineDecidesLongHistories(t *testing.T) {
	base := time.Unix(0, 0)
	rnd := rand.New(rand.NewPCG(1, 2))
	type timed struct {
		lin time.Time
		a   *op
		r   *read
	}
	var all []timed
	clock := make([]time.Time, 10) // per client: when its next operation starts
	for c := range clock {
		clock[c] = base
	}
	for range 40000 {
		c := rnd.IntN(len(clock))
		call := clock[c].Add(time.Duration(rnd.IntN(2000)) * time.Microsecond)
		d := time.Duration(1+rnd.IntN(20)) * time.Millisecond
		clock[c] = call.Add(d)
		lin := call.Add(time.Duration(rnd.Int64N(int64(d)))) // somewhere inside
		key := 1 + rnd.IntN(3)
		if c < 4 {
			all = append(all, timed{lin: lin, a: &op{client: c, key: key, call: call, ret: call.Add(d), ok: true}})
		} else {
			all = append(all, timed{lin: lin, r: &read{client: c, key: key, call: call, ret: call.Add(d)}})
		}
	}
	slices.SortFunc(all, func(a, b timed) int { return a.lin.Compare(b.lin) })
	final := map[int][]int64{}
	var appends []*op
	var reads []*read
	for i, x := range all {
		if x.a != nil {
			x.a.value = int64(i)
			final[x.a.key] = append(final[x.a.key], x.a.value)
			appends = append(appends, x.a)
		} else {
			x.r.list = slices.Clone(final[x.r.key])
			reads = append(reads, x.r)
		}
	}
	start := time.Now()
	if res := checkLinearizable(t, appends, reads, final, base, porcupineTimeout); res != porcupine.Ok {
		t.Fatalf("a linearizable history of %d operations: %s", len(all), res)
	}
	if took := time.Since(start); took > porcupineTimeout/10 {
		t.Errorf("porcupine took %s over %d operations: too close to its timeout of %s", took, len(all), porcupineTimeout)
	}
	// One read near the end misses the last append of its key before it.
	for i := len(reads) - 1; i >= 0; i-- {
		if r := reads[i]; len(r.list) > 0 {
			r.list = r.list[:len(r.list)-1]
			r.call = r.call.Add(time.Hour) // and began after everything returned
			r.ret = r.call.Add(time.Millisecond)
			break
		}
	}
	res := porcupine.CheckOperationsTimeout(listModel(final), porcupineHistory(appends, reads, final, base), porcupineTimeout)
	if res != porcupine.Illegal {
		t.Fatalf("a stale read in %d operations: porcupine says %s", len(all), res)
	}
}
