package integration

import (
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
// read (whose output is the list it returned).
type listInput struct {
	key   int
	read  bool
	value int64
}

// listModel is a list per key under appends and reads: an append always
// succeeds and adds its value at the end; a read must return exactly the
// list so far. Partitioned by key (the keys are independent), so each
// key's history is checked on its own.
var listModel = porcupine.Model{
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
	Init: func() any { return []int64(nil) },
	Step: func(state, input, output any) (bool, any) {
		list, in := state.([]int64), input.(listInput)
		if !in.read {
			return true, append(slices.Clip(list), in.value)
		}
		return slices.Equal(list, output.([]int64)), list
	},
	Equal: func(a, b any) bool { return slices.Equal(a.([]int64), b.([]int64)) },
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		for _, v := range state.([]int64) {
			h.Write(strconv.AppendInt(nil, v, 10))
			h.Write([]byte{','})
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in := input.(listInput)
		if in.read {
			return fmt.Sprintf("read(%d) -> %v", in.key, output)
		}
		return fmt.Sprintf("append(%d, %d)", in.key, in.value)
	},
	DescribeState: func(state any) string { return fmt.Sprint(state) },
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
		ops = append(ops, porcupine.Operation{ClientId: r.client, Input: listInput{key: r.key, read: true},
			Output: slices.Clip(r.list), Call: at(r.call), Return: at(r.ret)})
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
	res, info := porcupine.CheckOperationsVerbose(listModel, ops, timeout)
	t.Logf("porcupine: %s over %d operations (%d linearizable reads) in %s", res, len(ops), len(reads), time.Since(start).Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("chorus-porcupine-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(listModel, info, path); err == nil {
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
