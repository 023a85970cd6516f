package simulation

import (
	"fmt"
	"time"
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
