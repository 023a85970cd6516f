package integration

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// read is one linearizable read of a key's list in the chaos history.
type read struct {
	client    int
	key       int
	call, ret time.Time
	list      []int64
	server    string
	seq       uint64 // the seq the reply says it reflects
}

// listInput is an operation on one key's list: an append of value, or a
// read (whose output is a readOutput).
type listInput struct {
	key   int
	read  bool
	value int64
}

// readOutput is what a read returned, measured against the key's final
// list: its length, and whether it is a prefix of the final list.
type readOutput struct {
	n      int
	prefix bool
	list   []int64 // for the visualization
}

// listModel is a list per key under appends and reads: an append adds its
// value at the end; a read returns the list so far. Every append is blind
// and the final lists hold every applied one, so a key's appends can only
// be linearized in the order of its final list, and each state is a
// prefix of it: the state is that prefix's length, an append is legal
// only if its value is the final list's next one, and a read only if it
// returned exactly the prefix so far. That is the list model with the
// final lists as its outcome, cheap enough for long histories (a state is
// an int, and the append order is fixed). Partitioned by key, since the
// keys are independent.
func listModel(final map[int][]int64) porcupine.Model {
	return porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[int][]porcupine.Operation{}
			var keys []int
			for _, o := range h {
				k := o.Input.(listInput).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], o)
			}
			slices.Sort(keys)
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return 0 },
		Step: func(state, input, output any) (bool, any) {
			n, in := state.(int), input.(listInput)
			if !in.read {
				list := final[in.key]
				return n < len(list) && list[n] == in.value, n + 1
			}
			out := output.(readOutput)
			return out.prefix && out.n == n, n
		},
		DescribeOperation: func(input, output any) string {
			in := input.(listInput)
			if in.read {
				return fmt.Sprintf("read(%d) -> %v", in.key, output.(readOutput).list)
			}
			return fmt.Sprintf("append(%d, %d)", in.key, in.value)
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%d values", state) },
	}
}

// porcupineHistory turns the chaos history into porcupine operations.
// An append whose outcome is unknown (no answer) may have been applied at
// any time after its call: it returns "never" (math.MaxInt64) if the
// final lists hold it, and is left out if they do not (no read can have
// seen it then, or the final lists would hold it). A definite failure
// changed nothing: left out (checkHistory reports one that was applied).
func porcupineHistory(appends []*op, reads []*read, final map[int][]int64, base time.Time) []porcupine.Operation {
	present := map[int64]bool{}
	for _, list := range final {
		for _, v := range list {
			present[v] = true
		}
	}
	at := func(t time.Time) int64 { return t.Sub(base).Nanoseconds() }
	var ops []porcupine.Operation
	for _, o := range appends {
		ret := int64(math.MaxInt64)
		switch {
		case o.definite:
			continue
		case o.ok:
			ret = at(o.ret)
		case !present[o.value]:
			continue
		}
		ops = append(ops, porcupine.Operation{ClientId: o.client, Input: listInput{key: o.key, value: o.value}, Call: at(o.call), Return: ret})
	}
	for _, r := range reads {
		f := final[r.key]
		out := readOutput{n: len(r.list), prefix: len(r.list) <= len(f) && slices.Equal(r.list, f[:len(r.list)]), list: r.list}
		ops = append(ops, porcupine.Operation{ClientId: r.client, Input: listInput{key: r.key, read: true},
			Output: out, Call: at(r.call), Return: at(r.ret)})
	}
	return ops
}

// checkLinearizable runs porcupine over the history with a timeout; a
// result it cannot decide in time is a failure, not a pass. A violation
// leaves porcupine's visualization in a file it names.
func checkLinearizable(t *testing.T, appends []*op, reads []*read, final map[int][]int64, base time.Time, timeout time.Duration) porcupine.CheckResult {
	t.Helper()
	ops := porcupineHistory(appends, reads, final, base)
	start := time.Now()
	model := listModel(final)
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	t.Logf("porcupine: %s over %d operations (%d linearizable reads) in %s", res, len(ops), len(reads), time.Since(start).Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("chorus-porcupine-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(model, info, path); err == nil {
			t.Errorf("porcupine: the history of appends and linearizable reads is NOT linearizable; see %s", path)
		} else {
			t.Errorf("porcupine: the history is NOT linearizable (no visualization: %v)", err)
		}
		t.Errorf("stale reads: %s", strings.Join(staleReads(appends, reads, base, 5), "; "))
	default:
		t.Errorf("porcupine could not decide within %s (%s): that is a failure, not a pass; shorten CHORUS_CHAOS_DURATION or raise the timeout", timeout, res)
	}
	return res
}

// staleReads names up to limit reads that miss an append acknowledged
// before they were called (the plainest violation, to say what porcupine
// found).
func staleReads(appends []*op, reads []*read, base time.Time, limit int) []string {
	acked := map[int][]*op{} // per key, by return time
	for _, o := range appends {
		if o.ok {
			acked[o.key] = append(acked[o.key], o)
		}
	}
	for _, l := range acked {
		slices.SortFunc(l, func(a, b *op) int { return a.ret.Compare(b.ret) })
	}
	var out []string
	for _, r := range reads {
		if len(out) >= limit {
			break
		}
		seen := map[int64]bool{}
		for _, v := range r.list {
			seen[v] = true
		}
		for _, o := range acked[r.key] {
			if !o.ret.Before(r.call) {
				break
			}
			if !seen[o.value] {
				out = append(out, fmt.Sprintf("read of key %d on %s at seq %d (called %s) misses %d acknowledged at %s",
					r.key, r.server, r.seq, r.call.Sub(base).Round(time.Millisecond), o.value, o.ret.Sub(base).Round(time.Millisecond)))
				break
			}
		}
	}
	return out
}
