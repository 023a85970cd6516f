package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gocql/gocql"

	"github.com/chorusdb/chorus/messages"
)

// ErrClosed is returned by a Memory used after Close: the worker must not
// touch its store once it closed it. Reopen it to hand it to a restarted
// worker.
var ErrClosed = errors.New("store: Memory used after Close; call Reopen to use it again")

// errInjected is the failure FailNext and FailAfter inject when given none.
var errInjected = errors.New("store: Memory: injected failure")

// MemoryWrite is one write a Memory applied.
type MemoryWrite struct {
	Seq       uint64 `json:"seq"`
	Index     uint32 `json:"index"`
	RequestID string `json:"request_id"`
	Stmt      string `json:"stmt"`
	Timestamp int64  `json:"timestamp"` // the ORDER's WriteTimestamp(Index)
}

// Memory is a replica store in memory, for fast tests of the worker (apply
// loop, forwarding, request handling) without Cassandra. It keeps what
// Cassandra.Apply keeps: ORDERs applied in sequence, each write once, the
// progress (State) advanced with each write, and the request records, so
// an ORDER at or below the applied sequence gets its recorded outcomes
// (through the same decision as Cassandra's, decideRecorded). It runs no
// CQL: every write succeeds and is appended to a history tests read with
// History. Hooks make it fail (FailNext, FailAfter) or slow (Block).
//
// Memory models the keyspace, which outlives a worker: after Close, Reopen
// hands the same data to a restarted worker.
//
// It is safe for concurrent use: tests read it while the apply loop writes.
type Memory struct {
	mu       sync.Mutex
	st       State
	history  []MemoryWrite
	requests map[string]messages.Outcome
	members  map[string]messages.Member
	closed   bool

	failNext  int   // Apply calls still to fail, applying nothing
	failErr   error // their error
	failAfter int   // writes the next Apply applies before failing; -1: none
	afterErr  error

	gate    chan struct{} // closed by Unblock; nil when open
	waiting int           // Apply calls held at the gate
}

// NewMemory returns an empty Memory, as a new keyspace.
func NewMemory() *Memory {
	return &Memory{st: State{Gen: newGen()}, requests: map[string]messages.Outcome{}, members: map[string]messages.Member{}, failAfter: -1}
}

// Members lists the members as applied (Cassandra.Members).
func (m *Memory) Members(context.Context) ([]messages.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]messages.Member, 0, len(m.members))
	for _, mb := range m.members {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b messages.Member) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Adopt is Cassandra.Adopt.
func (m *Memory) Adopt(_ context.Context, applied, epoch uint64, ts int64, members []messages.Member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, mb := range members {
		m.members[mb.ID] = mb
	}
	m.st = State{Applied: applied, Epoch: epoch, Gen: m.st.Gen, TS: ts}
	return nil
}

// Apply implements the worker's Store like Cassandra.Apply does, except
// that every write succeeds. It waits first while the store is blocked
// (until Unblock, or ctx ends: then it fails like a Cassandra timeout).
func (m *Memory) Apply(ctx context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	if err := m.pass(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, ErrClosed
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case m.failNext > 0:
		m.failNext--
		return nil, m.failErr
	}
	limit, limitErr := m.failAfter, m.afterErr
	m.failAfter = -1
	outs := make([][]messages.Outcome, len(orders))
	for n := range orders {
		o := &orders[n]
		outs[n] = make([]messages.Outcome, len(o.Writes))
		if o.Kind == messages.OrderMember {
			if o.Seq > m.st.Applied {
				ch := o.Member
				m.members[ch.ID] = messages.Member{ID: ch.ID, Gen: ch.Gen, Removed: ch.Op == messages.MemberRemove, Seq: o.Seq}
				m.st = State{Applied: o.Seq, Epoch: max(m.st.Epoch, o.Epoch), Gen: m.st.Gen, TS: o.Timestamp}
			}
			continue
		}
		done := 0
		switch {
		case o.Seq <= m.st.Applied:
			done = len(o.Writes)
		case o.Seq == m.st.Applied+1:
			done = int(m.st.Partial)
		}
		for k, w := range o.Writes {
			if k < done { // applied before: its recorded outcome
				rec, rerr := m.record(w.RequestID)
				out, err := decideRecorded(o.Seq, k, w.RequestID, rec, rerr)
				if err != nil {
					return nil, err
				}
				outs[n][k] = out
				continue
			}
			if limit == 0 { // a failure after some writes landed
				return nil, limitErr
			}
			limit--
			out := messages.Outcome{Seq: o.Seq, Index: uint32(k)}
			m.history = append(m.history, MemoryWrite{Seq: o.Seq, Index: uint32(k), RequestID: w.RequestID, Stmt: w.Stmt, Timestamp: o.WriteTimestamp(k)})
			m.requests[w.RequestID] = out
			applied, partial := progress(o, k+1)
			m.st = State{Applied: applied, Epoch: max(m.st.Epoch, o.Epoch), Partial: uint32(partial), Gen: m.st.Gen, TS: o.WriteTimestamp(k)}
			outs[n][k] = out
		}
	}
	return outs, nil
}

// record is the request record of id as Cassandra's read would return it.
func (m *Memory) record(id string) (record, error) {
	out, ok := m.requests[id]
	if !ok {
		return record{}, gocql.ErrNotFound
	}
	return record{id: id, seq: int64(out.Seq), idx: int(out.Index), code: int(out.Code), msg: out.Error}, nil
}

// pass waits at the gate while the store is blocked.
func (m *Memory) pass(ctx context.Context) error {
	m.mu.Lock()
	gate := m.gate
	if gate == nil {
		m.mu.Unlock()
		return nil
	}
	m.waiting++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.waiting--
		m.mu.Unlock()
	}()
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: Memory is blocked: %w", ErrUnavailable, ctx.Err())
	}
}

// Query implements the worker's Store. Memory runs no CQL: whatever the
// statement, it answers with the history of applied writes, one row per
// write (columns seq, index, request_id, stmt, timestamp), enough for a
// test to see which writes a read reflects.
func (m *Memory) Query(context.Context, string) ([]string, json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrClosed
	}
	rows, err := json.Marshal(m.historyLocked())
	if err != nil {
		return nil, nil, fmt.Errorf("store: Memory: rendering the history: %w", err)
	}
	return []string{"seq", "index", "request_id", "stmt", "timestamp"}, rows, nil
}

// Requests implements the worker's Store: the request records, in log
// order.
func (m *Memory) Requests(context.Context) ([]Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]Request, 0, len(m.requests))
	for id, o := range m.requests {
		out = append(out, Request{ID: id, Outcome: o})
	}
	slices.SortFunc(out, func(a, b Request) int {
		return cmp.Or(cmp.Compare(a.Outcome.Seq, b.Outcome.Seq), cmp.Compare(a.Outcome.Index, b.Outcome.Index))
	})
	return out, nil
}

// Close implements the worker's Store: until Reopen, every call fails
// with ErrClosed. The data stays.
func (m *Memory) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
}

// Closed reports whether Close was called since the last Reopen.
func (m *Memory) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Reopen makes a closed Memory usable again, as a restarted worker opening
// its keyspace, and returns the applied state it would read.
func (m *Memory) Reopen() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = false
	return m.st
}

// State is the applied state.
func (m *Memory) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// History is a copy of the writes applied, in the order applied.
func (m *Memory) History() []MemoryWrite {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.historyLocked()
}

func (m *Memory) historyLocked() []MemoryWrite {
	return append([]MemoryWrite{}, m.history...)
}

// FailNext makes the next n Apply calls fail with err, applying nothing,
// as Cassandra down. err is wrapped with ErrUnavailable unless it already
// is a storage error of this package (ErrUnavailable, ErrKeyspaceLost);
// nil stands for an injected failure.
func (m *Memory) FailNext(n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext, m.failErr = n, storageError(err)
}

// FailAfter makes the next Apply call apply the first writes writes it has
// to apply, then fail with err (wrapped as by FailNext): a timed-out batch
// that landed, or a crash in the middle of an ORDER. The progress and the
// request records of those writes stay, as in Cassandra. A call with
// fewer writes to apply succeeds, and the failure is spent all the same.
// Calls failed by FailNext come first.
func (m *Memory) FailAfter(writes int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAfter, m.afterErr = max(writes, 0), storageError(err)
}

func storageError(err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, errInjected)
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrKeyspaceLost):
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Block holds every Apply call from now on at a gate until Unblock (or
// until its context ends), so tests can make the store slow without
// sleeping. Waiting says how many calls are held.
func (m *Memory) Block() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gate == nil {
		m.gate = make(chan struct{})
	}
}

// Unblock releases the Apply calls held by Block, and lets later ones
// through.
func (m *Memory) Unblock() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gate != nil {
		close(m.gate)
		m.gate = nil
	}
}

// Waiting is the number of Apply calls held at the gate right now.
func (m *Memory) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting
}
