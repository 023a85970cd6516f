package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// op is one list-append in the chaos history.
type op struct {
	client   int
	key      int
	value    int64
	call     time.Time
	ret      time.Time // zero while unknown
	ok       bool      // SUCCESS seen
	definite bool      // a final ERROR: must not be applied
}

// TestChaos runs concurrent clients against 3 worker processes while a
// nemesis SIGKILLs and restarts workers (the leader included) and freezes
// the leader or any worker, then checks the history: replicas identical,
// every acknowledged append present exactly once, nothing twice, and the
// list order consistent with real time; and, with porcupine, that the
// appends together with the linearizable reads made meanwhile (through any
// worker, frozen and lagging ones included) are linearizable. Short by
// default; `make chaos` sets CHORUS_CHAOS_DURATION for the long form;
// CHORUS_CHAOS_SEED replays a run's seed.
func TestChaos(t *testing.T) {
	duration := 20 * time.Second
	if v := os.Getenv("CHORUS_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHORUS_CHAOS_DURATION: %v", err)
		}
		duration = d
	}
	// The seed drives the nemesis and the clients' choices; set
	// CHORUS_CHAOS_SEED to replay a run's schedule (its timing still varies).
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHORUS_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHORUS_CHAOS_SEED=%q: want an unsigned integer: %v", v, err)
		}
		seed = s
	}
	replay := fmt.Sprintf("CHORUS_CHAOS_SEED=%d CHORUS_CHAOS_DURATION=%s go test -count=1 -timeout 60m -run 'TestChaos$' -v ./integration/", seed, duration)
	t.Logf("chaos for %s, seed %d; to replay: %s", duration, seed, replay)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos failed with seed %d; replay it with:\n  %s", seed, replay)
		}
	})
	// Snapshots and trims go on under the kills and freezes too.
	e, p := newProcEnv(t, map[string]string{"CHORUS_SNAPSHOT_EVERY": "150", "CHORUS_LOG_RETAIN": "50"})
	keys := []int{1, 2, 3}
	for _, k := range keys[1:] {
		e.exec("", fmt.Sprintf("INSERT INTO grade (id, events) VALUES (%d, [])", k))
	}

	var mu sync.Mutex
	var history []*op
	var reads, localReads []*read
	base := time.Now()
	stop := make(chan struct{})
	var clients sync.WaitGroup
	// Readers: linearizable reads (checked by porcupine), and local ones
	// (only counted: they may be stale), mostly through a chosen worker.
	for c := range 3 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(100+c)))
			level := messages.ReadConsistency{Level: messages.ReadLinearizable}
			into := &reads
			if c == 2 {
				level, into = messages.ReadConsistency{}, &localReads
			}
			cl := client.New(e.nc, client.WithPrefix(p.Prefix), client.WithTimeout(10*time.Second),
				client.WithAttemptTimeout(5*time.Second), client.WithReadConsistency(level))
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := &read{client: 10 + c, key: keys[rnd.IntN(len(keys))], call: time.Now()}
				var opts []client.Option
				if rnd.IntN(4) != 0 {
					opts = append(opts, client.WithServer(p.IDs[rnd.IntN(len(p.IDs))]))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				rows, err := cl.Query(ctx, fmt.Sprintf("SELECT events FROM grade WHERE id = %d", r.key), opts...)
				cancel()
				r.ret = time.Now()
				if err != nil {
					continue // a read that failed changed nothing and claims nothing
				}
				if r.list, err = listOf(rows); err != nil {
					t.Errorf("reader %d: %v", c, err)
					continue
				}
				r.server, r.seq = rows.Server, rows.Seq
				mu.Lock()
				*into = append(*into, r)
				mu.Unlock()
			}
		}()
	}
	for c := range 4 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(c)))
			cl := client.New(e.nc, client.WithPrefix(p.Prefix), client.WithTimeout(30*time.Second), client.WithAttemptTimeout(3*time.Second))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := &op{client: c, key: keys[rnd.IntN(len(keys))], value: e.counter.Add(1), call: time.Now()}
				mu.Lock()
				history = append(history, o)
				mu.Unlock()
				var opts []client.Option
				if rnd.IntN(4) == 0 {
					opts = append(opts, client.WithServer(p.IDs[rnd.IntN(len(p.IDs))]))
				}
				opts = append(opts, client.WithRequestID(fmt.Sprintf("chaos-%d-%d-%d", seed, c, i)))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cl.Exec(ctx, fmt.Sprintf("UPDATE grade SET events = events + [%d] WHERE id = %d", o.value, o.key), opts...)
				cancel()
				mu.Lock()
				var ce *client.Error
				switch {
				case err == nil:
					o.ok, o.ret = true, time.Now()
				case errors.As(err, &ce) && ce.Code.String() != "UNAVAILABLE":
					o.definite, o.ret = true, time.Now()
					t.Errorf("client %d: final error for append %d: %v", c, o.value, err)
				}
				mu.Unlock()
			}
		}()
	}

	// The nemesis: one fault at a time, always healed before the next.
	rnd := rand.New(rand.NewPCG(seed, 99))
	kills, pauses := 0, 0
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(500+rnd.IntN(1500)) * time.Millisecond) // fault pacing, not a wait
		st, err := p.Status(e.nc)
		leader := st.Leader
		if err != nil || leader == "" {
			continue
		}
		switch rnd.IntN(4) {
		case 0: // kill the leader
			p.Kill(leader)
			kills++
			time.Sleep(time.Duration(rnd.IntN(2000)) * time.Millisecond)
			p.Start(leader)
		case 1: // kill anyone
			victim := p.IDs[rnd.IntN(len(p.IDs))]
			p.Kill(victim)
			kills++
			time.Sleep(time.Duration(rnd.IntN(2000)) * time.Millisecond)
			p.Start(victim)
		case 2: // freeze the leader past its lease, then thaw it
			p.Pause(leader)
			pauses++
			time.Sleep(leaseTTL + time.Duration(rnd.IntN(2000))*time.Millisecond)
			p.Resume(leader)
		case 3: // freeze anyone past the heartbeat timeout: it drops out and lags
			victim := p.IDs[rnd.IntN(len(p.IDs))]
			p.Pause(victim)
			pauses++
			time.Sleep(leaseTTL + time.Duration(rnd.IntN(2000))*time.Millisecond)
			p.Resume(victim)
		}
	}
	close(stop)
	clients.Wait()
	t.Logf("nemesis: %d SIGKILLs, %d SIGSTOP/SIGCONT", kills, pauses)

	// Every worker must converge on the same lists.
	var final map[int][]int64
	chorustest.Eventually(t, 2*time.Minute, func() error {
		var err error
		if final, err = e.agreedLists(keys); err != nil {
			return err
		}
		st, err := p.Status(e.nc)
		if err != nil {
			return err
		}
		for _, w := range st.Workers {
			if w.Applied < st.LastSeq {
				return fmt.Errorf("%s applied %d of %d", w.ID, w.Applied, st.LastSeq)
			}
		}
		return nil
	})
	acked, unknown, problems := checkHistory(history, final)
	for _, pr := range problems {
		t.Error(pr)
	}
	t.Logf("history: %d appends, %d acknowledged and checked, %d without an answer", len(history), acked, unknown)
	if len(reads) == 0 {
		t.Error("no linearizable read succeeded during the chaos: nothing for porcupine to check")
	}
	checkLinearizable(t, history, reads, final, base, porcupineTimeout)
	t.Logf("local reads: %d, of which %d missed a write acknowledged before they began (allowed for local)",
		len(localReads), len(staleReads(history, localReads, base, len(localReads))))
	st, err := p.Status(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log %d..%d, newest snapshot at %d", st.FirstSeq, st.LastSeq, st.SnapshotSeq)
	if st.LastSeq > 400 && (st.SnapshotSeq == 0 || st.FirstSeq <= 1) {
		t.Errorf("a log of %d entries with snapshots every 150 was never snapshotted or trimmed (snapshot %d, first %d)", st.LastSeq, st.SnapshotSeq, st.FirstSeq)
	}
	checkLog(t, e, p)
}

// porcupineTimeout bounds the linearizability check of a chaos history.
const porcupineTimeout = 2 * time.Minute

// listOf is the list a read of one key's events returned (no row: empty).
func listOf(rows *client.Rows) ([]int64, error) {
	if len(rows.Rows) == 0 {
		return nil, nil
	}
	vals, _ := rows.Rows[0]["events"].([]any) // null: empty
	list := make([]int64, 0, len(vals))
	for _, v := range vals {
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("events value %#v is not a number", v)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, err
		}
		list = append(list, i)
	}
	return list, nil
}

// checkHistory checks a list-append history against the final lists. All
// appends to a key are blind and the final read sees the whole list, so
// the list order is the only possible linearization: the history is
// linearizable iff every acknowledged append is present exactly once,
// nothing is present twice or unsent, and whenever append A returned
// before append B was called and both are present, A comes first.
func checkHistory(history []*op, final map[int][]int64) (acked, unknown int, problems []string) {
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	byValue := map[int64]*op{}
	for _, o := range history {
		byValue[o.value] = o
		if o.ok {
			acked++
		} else if !o.definite {
			unknown++
		}
	}
	for k, list := range final {
		index := map[int64]int{}
		for i, v := range list {
			o, sent := byValue[v]
			switch {
			case !sent:
				fail("key %d: value %d was never sent", k, v)
			case o.key != k:
				fail("value %d sent to key %d appears in key %d", v, o.key, k)
			case o.definite:
				fail("key %d: value %d failed with a final error yet was applied", k, v)
			}
			if _, dup := index[v]; dup {
				fail("key %d: value %d applied twice", k, v)
			}
			index[v] = i
		}
		var present []*op
		for _, o := range history {
			if o.key != k {
				continue
			}
			if _, ok := index[o.value]; ok {
				present = append(present, o)
			} else if o.ok {
				fail("key %d: acknowledged value %d (client %d) is missing", k, o.value, o.client)
			}
		}
		// Real-time order: sort the present appends by list position; no
		// append may have returned before an earlier-placed one was called.
		sort.Slice(present, func(i, j int) bool { return index[present[i].value] < index[present[j].value] })
		var latestCall time.Time // the latest call among appends placed before
		var latestOp *op
		for _, o := range present {
			if o.ok && !latestCall.IsZero() && o.ret.Before(latestCall) {
				fail("key %d: append %d returned at %s, before append %d was called (%s), yet is placed after it",
					k, o.value, o.ret.Format("15:04:05.000"), latestOp.value, latestCall.Format("15:04:05.000"))
			}
			if o.call.After(latestCall) {
				latestCall, latestOp = o.call, o
			}
		}
	}
	return acked, unknown, problems
}
