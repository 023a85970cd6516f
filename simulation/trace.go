package simulation

import (
	"fmt"
	"sort"
	"time"

	"github.com/chorusdb/chorus/leader"
)

// tracer keeps the last lines of a run, or all of them.
type tracer struct {
	all  bool
	ring []string
	next int
}

func newTracer(all bool, keep int) *tracer {
	return &tracer{all: all, ring: make([]string, 0, keep)}
}

func (s *Sim) tracef(format string, args ...any) {
	if s.tr == nil {
		return
	}
	line := fmt.Sprintf("%10s ", s.now.Sub(epoch0).Round(time.Microsecond)) + fmt.Sprintf(format, args...)
	t := s.tr
	if t.all || len(t.ring) < cap(t.ring) {
		t.ring = append(t.ring, line)
		return
	}
	t.ring[t.next] = line
	t.next = (t.next + 1) % len(t.ring)
}

// debugf traces detail (every apply, accept, publish) only when the whole
// trace is kept: a replay with -v.
func (s *Sim) debugf(format string, args ...any) {
	if s.tr != nil && s.tr.all {
		s.tracef(format, args...)
	}
}

// Lines returns the kept lines, oldest first.
func (t *tracer) Lines() []string {
	if t.all || len(t.ring) < cap(t.ring) {
		return t.ring
	}
	return append(append([]string(nil), t.ring[t.next:]...), t.ring[:t.next]...)
}

// canonical orders the actions of one call where the Sequencer's order
// comes from map iteration (Tick's members, commit's waiters): runs of
// Respond and of Notice are sorted, which changes nothing they mean
// (separate messages, log lines) and keeps a seed's replay exact.
func canonical(acts []leader.Action) []leader.Action {
	key := func(a leader.Action) (int, string) {
		switch a := a.(type) {
		case leader.Respond:
			r := a.Reply
			return 1, fmt.Sprintf("%s|%s|%d|%d|%s|%s|%s", a.To, r.Status, r.Seq, r.Index, r.RequestID, r.Code, r.Error)
		case leader.Notice:
			return 2, a.Msg
		}
		return 0, ""
	}
	for i := 0; i < len(acts); {
		k, _ := key(acts[i])
		j := i + 1
		for j < len(acts) {
			if kj, _ := key(acts[j]); kj != k {
				break
			}
			j++
		}
		if k != 0 && j-i > 1 {
			run := acts[i:j]
			sort.SliceStable(run, func(a, b int) bool {
				_, ka := key(run[a])
				_, kb := key(run[b])
				return ka < kb
			})
		}
		i = j
	}
	return acts
}
