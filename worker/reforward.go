package worker

import (
	"context"
	"sync"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// reforwarders bounds the hand-overs again in flight after a leader
// change: each is one forward to the new leader.
const reforwarders = 16

// watchedWrites is the worker's Handovers behind a lock: the request
// handlers add to it, the apply loop supersedes.
type watchedWrites struct {
	mu      sync.Mutex
	h       *Handovers
	room    chan struct{} // closed (and replaced) when writes leave the list
	waiting int           // handlers waiting for room
}

func newWatchedWrites(keep time.Duration) *watchedWrites {
	return &watchedWrites{h: NewHandovers(keep, MaxHandovers), room: make(chan struct{})}
}

func (ww *watchedWrites) len() int {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return ww.h.Len()
}

// accepted watches f, which acc accepted, waiting for room if the list
// is full; it reports whether f must be handed over again at once.
func (ww *watchedWrites) accepted(ctx context.Context, f messages.Forward, acc messages.Accepted) bool {
	for {
		ww.mu.Lock()
		before := ww.h.Len()
		again, wait := ww.h.Accepted(f, acc, time.Now())
		if ww.h.Len() < before {
			ww.signal()
		}
		room := ww.room
		if wait > 0 {
			ww.waiting++
		}
		ww.mu.Unlock()
		if wait == 0 {
			return again
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-room:
		case <-t.C:
		}
		t.Stop()
		ww.mu.Lock()
		ww.waiting--
		ww.mu.Unlock()
		if ctx.Err() != nil {
			return false
		}
	}
}

// superseded: the replica applied epoch; what earlier epochs may have
// left unanswered is returned to hand over again.
func (ww *watchedWrites) superseded(epoch uint64) []Handover {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	again := ww.h.Superseded(epoch, time.Now())
	ww.signal()
	return again
}

// signal wakes every handler waiting for room (ww.mu held).
func (ww *watchedWrites) signal() {
	if ww.waiting == 0 {
		return
	}
	close(ww.room)
	ww.room = make(chan struct{})
}

// handOverAgain forwards writes an earlier leader accepted and may not
// have answered to the current leader, under their request ids and with
// their clients' inboxes: the new leader answers the clients. A write no
// leader takes within the forward timeout is left to the client's retry
// (it may have been answered: no UNAVAILABLE after a SUCCESS).
func (w *Worker) handOverAgain(ctx context.Context, ws []Handover) {
	w.log.Info("a new leader: handing over again the writes the last one accepted and may not have answered", "writes", len(ws))
	sem := make(chan struct{}, reforwarders)
	for _, h := range ws {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			w.metrics.ForwardAgain()
			acc, err := w.handOver(ctx, h.Forward)
			if err != nil {
				w.log.Debug("handing a write over again", "request_id", h.Forward.RequestID, "err", err)
				return
			}
			w.watch(ctx, h.Forward, acc) // the new leader may fail to answer too
		}()
	}
}
