package worker

import (
	"sync"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// Recent is the in-memory side of the exactly-once record: the request ids
// this replica applied within the dedup window, with their outcomes. The
// apply loop adds to it; the leader (when this worker leads) looks retries
// up in it. Bounded by age and count, oldest forgotten first.
type Recent struct {
	mu     sync.Mutex
	byID   map[string]recentEntry
	order  []string // ids, oldest first (a FIFO with a moving head)
	head   int
	window time.Duration
	max    int
}

type recentEntry struct {
	outcome messages.Outcome
	at      time.Time
}

// NewRecent remembers at most max ids for window.
func NewRecent(window time.Duration, max int) *Recent {
	return &Recent{byID: map[string]recentEntry{}, window: window, max: max}
}

// Add remembers id's outcome.
func (r *Recent) Add(id string, o messages.Outcome, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[id]; !ok {
		r.order = append(r.order, id)
	}
	r.byID[id] = recentEntry{outcome: o, at: now}
	r.evict(now)
}

// Lookup returns id's outcome if it is remembered.
func (r *Recent) Lookup(id string) (messages.Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	return e.outcome, ok
}

// Len is the number of remembered ids.
func (r *Recent) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

func (r *Recent) evict(now time.Time) {
	for r.head < len(r.order) {
		id := r.order[r.head]
		e, ok := r.byID[id]
		if ok && len(r.byID) <= r.max && now.Sub(e.at) <= r.window {
			break
		}
		delete(r.byID, id)
		r.order[r.head] = ""
		r.head++
	}
	if r.head > 1024 && r.head*2 > len(r.order) { // compact the FIFO
		r.order = append([]string(nil), r.order[r.head:]...)
		r.head = 0
	}
}
