package worker

import (
	"time"

	"github.com/chorusdb/chorus/messages"
)

// MaxHandovers bounds the writes a worker watches (Handovers). Answered
// writes leave as the leader's Accepted messages report them, so only a
// leader that accepts and does not answer for a long while fills it; then
// forwarding waits for room (the producer waits, nothing is dropped).
const MaxHandovers = 1 << 16

// Handover is a client's write a leader accepted (appended to the log)
// whose answer this worker has not seen reported yet.
type Handover struct {
	Forward messages.Forward
	Epoch   uint64 // of the leader that accepted it
	Seq     uint64
	At      time.Time // when it was accepted
}

// Handovers closes the gap between a leader's Accepted and its answer to
// the client: a leader that dies, freezes or steps down in between leaves
// an appended write unanswered, and without this the client would hear
// nothing until its attempt timeout. The worker that handed the write
// over watches it; once its replica applies a later epoch's marker, the
// write is handed to the new leader again under the same request id and
// with the same client inbox. That is exactly the retry the client would
// send: the new leader answers it from the exactly-once record once every
// live replica has applied it (a second answer, if the old leader did
// answer, is dropped by the client's request as late).
//
// A write stops being watched when a later Accepted of the same epoch
// reports its seq answered (Accepted.Answered), or after keep. It is
// pure: time is an input, and one goroutine, or a lock, owns it, so the
// simulation runs this same code.
type Handovers struct {
	keep  time.Duration
	max   int
	list  []Handover
	head  int
	epoch uint64 // the highest epoch this worker's replica applied
	// The newest report of the answered prefix: the leader of
	// answeredEpoch has answered every write it accepted at a seq <=
	// answered.
	answeredEpoch, answered uint64
}

// NewHandovers watches writes for keep after they were accepted, at most
// max at once.
func NewHandovers(keep time.Duration, max int) *Handovers {
	return &Handovers{keep: keep, max: max}
}

// Len is how many writes are watched.
func (h *Handovers) Len() int { return len(h.list) - h.head }

// Accepted watches a write that acc accepted. again: the epoch that
// accepted it is over already (this worker applied a later epoch), so
// hand it over again now. wait > 0: no room; try again after wait,
// when the oldest write is no longer watched.
func (h *Handovers) Accepted(f messages.Forward, acc messages.Accepted, now time.Time) (again bool, wait time.Duration) {
	h.report(acc)
	h.prune(now)
	if acc.Seq == 0 {
		return false, 0 // answered without ordering
	}
	if acc.Epoch < h.epoch {
		return true, 0
	}
	if h.answeredEpoch == acc.Epoch && acc.Seq <= h.answered {
		return false, 0 // answered already (an Accepted of a retry)
	}
	if h.Len() >= h.max {
		return false, max(h.list[h.head].At.Add(h.keep).Sub(now), time.Nanosecond)
	}
	h.list = append(h.list, Handover{Forward: f, Epoch: acc.Epoch, Seq: acc.Seq, At: now})
	return false, 0
}

// Report takes in an Accepted's report of what its leader answered.
func (h *Handovers) Report(acc messages.Accepted, now time.Time) {
	h.report(acc)
	h.prune(now)
}

func (h *Handovers) report(acc messages.Accepted) {
	if acc.Epoch > h.answeredEpoch || (acc.Epoch == h.answeredEpoch && acc.Answered > h.answered) {
		h.answeredEpoch, h.answered = acc.Epoch, acc.Answered
	}
}

// Superseded is called when this worker's replica has applied epoch's
// marker: it returns the writes accepted by earlier epochs that may be
// unanswered, to hand over again, and stops watching them.
func (h *Handovers) Superseded(epoch uint64, now time.Time) []Handover {
	if epoch <= h.epoch {
		return nil
	}
	h.epoch = epoch
	h.prune(now)
	var again []Handover
	kept := h.list[:0]
	for _, w := range h.list[h.head:] {
		switch {
		case w.Epoch >= epoch:
			kept = append(kept, w)
		case !h.isAnswered(w):
			again = append(again, w)
		}
	}
	clear(h.list[len(kept):])
	h.list, h.head = kept, 0
	return again
}

func (h *Handovers) isAnswered(w Handover) bool {
	return w.Epoch == h.answeredEpoch && w.Seq <= h.answered
}

// prune stops watching, from the oldest, what is answered or older than
// keep. Writes are accepted in about seq order, so the front is where
// answered ones are; one answered behind an unanswered one waits.
func (h *Handovers) prune(now time.Time) {
	for h.head < len(h.list) {
		w := h.list[h.head]
		if !h.isAnswered(w) && now.Sub(w.At) < h.keep {
			break
		}
		h.list[h.head] = Handover{}
		h.head++
	}
	if h.head == len(h.list) {
		h.list, h.head = h.list[:0], 0
	} else if h.head > 1024 && h.head > len(h.list)/2 {
		n := copy(h.list, h.list[h.head:])
		clear(h.list[n:])
		h.list, h.head = h.list[:n], 0
	}
}
