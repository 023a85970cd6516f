package integration

import (
	"testing"
	"time"
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
