package worker

import (
	"fmt"

	"github.com/chorusdb/chorus/messages"
)

// StepKind says what the apply loop does with a log entry.
type StepKind uint8

const (
	// StepApply: apply the write to the store.
	StepApply StepKind = iota
	// StepMarker: a leader's epoch marker; nothing to store.
	StepMarker
	// StepSkip: an entry no replica applies (not a valid ORDER, or from a
	// deposed leader); every replica skips it the same way.
	StepSkip
	// StepSnapshot: a request that worker Order.SnapshotBy snapshot its
	// keyspace as of this seq; nothing to store.
	StepSnapshot
	// StepMember: a membership change, recorded by the store.
	StepMember
)

// stores reports whether the store applies the step's ORDER.
func (k StepKind) stores() bool { return k == StepApply || k == StepMember }

// Step is the next log entry to process, strictly in log order.
type Step struct {
	Seq     uint64
	Kind    StepKind
	Order   messages.Order
	Outcome messages.Outcome // for StepSkip: why
}

// logEntry is a log entry as delivered: its stream sequence and either the
// decoded ORDER or why it could not be decoded.
type logEntry struct {
	order messages.Order
	err   error
}

// DefaultMaxHeld bounds the entries an Applier holds ahead of the apply.
const DefaultMaxHeld = 4096

// Offered is what an Applier did with an entry it was offered.
type Offered uint8

const (
	// Taken: the entry is held until it is applied.
	Taken Offered = iota
	// Duplicate: the entry is applied or held already; nothing changed.
	Duplicate
	// Full: the Applier holds as much as it may; it did not take the
	// entry. Apply what is ready (Run, Done), then offer it again: the
	// caller keeps it meanwhile, and that is the back-pressure.
	Full
)

func (o Offered) String() string { return [...]string{"taken", "duplicate", "full"}[o] }

// Applier is the replica's apply protocol, without I/O: entries of the log
// arrive in any order, possibly duplicated; it hands them out strictly in
// sequence, each once, holding back any entry until all earlier ones are
// applied (DESIGN invariant 1). It never drops an entry it took, and says
// Full rather than take more than its bound. One goroutine owns it.
type Applier struct {
	applied    uint64
	epoch      uint64
	maxHeld    int
	held       map[uint64]logEntry
	duplicates uint64
}

// NewApplier starts after seq applied, in epoch, holding at most maxHeld
// entries ahead of the apply (DefaultMaxHeld if maxHeld <= 0).
func NewApplier(applied, epoch uint64, maxHeld int) *Applier {
	if maxHeld <= 0 {
		maxHeld = DefaultMaxHeld
	}
	return &Applier{applied: applied, epoch: epoch, maxHeld: maxHeld, held: map[uint64]logEntry{}}
}

// Duplicates counts entries offered again after being taken.
func (a *Applier) Duplicates() uint64 { return a.duplicates }

// Held is how many entries wait to be applied.
func (a *Applier) Held() int { return len(a.held) }

// Applied is the last applied sequence.
func (a *Applier) Applied() uint64 { return a.applied }

// Epoch is the highest epoch applied.
func (a *Applier) Epoch() uint64 { return a.epoch }

// Offer hands over the log entry at stream sequence seq: data is the raw
// message.
func (a *Applier) Offer(seq uint64, data []byte) Offered {
	if seq <= a.applied {
		a.duplicates++
		return Duplicate
	}
	if _, ok := a.held[seq]; ok {
		a.duplicates++
		return Duplicate
	}
	if len(a.held) >= a.maxHeld && seq != a.applied+1 {
		// The entry that fills the gap is always taken: without it
		// nothing held could ever be applied.
		return Full
	}
	var e logEntry
	e.err = messages.Decode(data, &e.order)
	if e.err == nil && e.order.Seq != seq {
		// Published without the expected-sequence condition: not by a leader.
		e.err = fmt.Errorf("ORDER says seq %d but sits at log position %d", e.order.Seq, seq)
	}
	a.held[seq] = e
	return Taken
}

// Next returns the entry after the last applied one, if it has arrived.
// The caller processes it and then calls Done; until then Next returns the
// same step (an apply that failed is retried, never skipped).
func (a *Applier) Next() (Step, bool) {
	e, ok := a.held[a.applied+1]
	if !ok {
		return Step{}, false
	}
	return step(a.applied+1, e, a.epoch), true
}

// Run returns the consecutive entries ready after the last applied one,
// holding at most maxWrites writes (but at least one entry), so the caller
// can apply them together; it calls Done for each, in order.
func (a *Applier) Run(maxWrites int) []Step {
	var run []Step
	epoch, writes := a.epoch, 0
	for seq := a.applied + 1; ; seq++ {
		e, ok := a.held[seq]
		if !ok || (len(run) > 0 && writes+len(e.order.Writes) > maxWrites) {
			return run
		}
		st := step(seq, e, epoch)
		if st.Kind != StepSkip && st.Order.Epoch > epoch {
			epoch = st.Order.Epoch
		}
		if st.Kind == StepApply {
			writes += len(st.Order.Writes)
		}
		run = append(run, st)
	}
}

// step decides what to do with entry e at seq, the highest epoch applied
// before it being epoch.
func step(seq uint64, e logEntry, epoch uint64) Step {
	st := Step{Seq: seq, Order: e.order}
	switch {
	case e.err != nil:
		st.Kind = StepSkip
		st.Outcome = messages.Outcome{Seq: seq, Code: messages.CodeInternal, Error: "log entry skipped: " + e.err.Error()}
	case e.order.Epoch < epoch:
		st.Kind = StepSkip
		st.Outcome = messages.Outcome{Seq: seq, Code: messages.CodeStale,
			Error: fmt.Sprintf("ORDER of deposed leader (epoch %d < %d) not applied", e.order.Epoch, epoch)}
	case e.order.Kind == messages.OrderEpoch:
		st.Kind = StepMarker
	case e.order.Kind == messages.OrderSnapshot:
		st.Kind = StepSnapshot
	case e.order.Kind == messages.OrderMember:
		st.Kind = StepMember
	default:
		st.Kind = StepApply
	}
	return st
}

// Done records that st was processed (applied, or skipped).
func (a *Applier) Done(st Step) {
	if st.Seq != a.applied+1 {
		panic(fmt.Sprintf("worker: Done(%d) after applied %d", st.Seq, a.applied))
	}
	delete(a.held, st.Seq)
	a.applied = st.Seq
	if st.Kind != StepSkip && st.Order.Epoch > a.epoch {
		a.epoch = st.Order.Epoch
	}
}
