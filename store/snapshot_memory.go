package store

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chorusdb/chorus/messages"
)

// Export writes the Memory as a snapshot stream (the same framing as
// Cassandra's, of store kind "memory"): its State, its history of applied
// writes (records 'W', in the order applied), its request records (in
// log order, without expiry: Memory keeps them for ever) and its members. It copies them
// under its lock, so the stream is of one applied sequence even if the
// caller did not pause applying.
func (m *Memory) Export(ctx context.Context, w io.Writer) (SnapshotStats, error) {
	start := time.Now()
	var stats SnapshotStats
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return stats, ErrClosed
	}
	st := m.st
	history := m.historyLocked()
	m.mu.Unlock()
	members, err := m.Members(ctx)
	if err != nil {
		return stats, err
	}
	if st.Partial != 0 {
		return stats, fmt.Errorf("%w: Memory has applied %d writes of seq %d", ErrSnapshotPartial, st.Partial, st.Applied+1)
	}
	requests, err := m.Requests(ctx)
	if err != nil {
		return stats, err
	}
	fw, err := newFrameWriter(w)
	if err != nil {
		return stats, fmt.Errorf("store: writing the snapshot of a Memory: %w", err)
	}
	fail := func(err error) (SnapshotStats, error) {
		stats.Bytes = fw.n
		return stats, fmt.Errorf("store: writing the snapshot of a Memory: %w", err)
	}
	if err := fw.write(recHeader, snapHeader{Format: SnapshotFormat, Store: storeMemory, Keyspace: "memory",
		Applied: st.Applied, Epoch: st.Epoch, Taken: start.UTC()}); err != nil {
		return fail(err)
	}
	for _, h := range history {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := fw.write(recWrite, &snapWrite{Seq: h.Seq, Index: h.Index, RequestID: h.RequestID, Stmt: h.Stmt, Timestamp: h.Timestamp}); err != nil {
			return fail(err)
		}
		stats.Rows++
	}
	for _, r := range requests {
		if err := fw.write(recRequest, &snapRequest{ID: r.ID, Seq: r.Outcome.Seq, Idx: r.Outcome.Index,
			Code: int(r.Outcome.Code), Error: r.Outcome.Error}); err != nil {
			return fail(err)
		}
		stats.Requests++
	}
	for _, mb := range members {
		if err := fw.write(recMember, &snapMember{ID: mb.ID, Gen: mb.Gen, Removed: mb.Removed, Seq: mb.Seq}); err != nil {
			return fail(err)
		}
		stats.Members++
	}
	if err := fw.write(recEnd, snapTrailer{Writes: stats.Rows, Requests: stats.Requests, Members: stats.Members, Elapsed: time.Since(start)}); err != nil {
		return fail(err)
	}
	if err := fw.flush(); err != nil {
		return fail(err)
	}
	stats.Bytes = fw.n
	return stats, nil
}

// Import loads a Memory snapshot into this Memory, which must be empty (no
// write applied, no request record: else ErrNotEmpty). It reads the whole
// stream first and changes the Memory only once the trailer checked out,
// so a truncated stream leaves it empty. Afterwards History, Query,
// Requests, Members and State (but its generation) equal the source's.
func (m *Memory) Import(ctx context.Context, r io.Reader, progress func(RestoreProgress)) (State, error) {
	m.mu.Lock()
	closed, empty := m.closed, m.st == (State{Gen: m.st.Gen}) && len(m.history) == 0 && len(m.requests) == 0 && len(m.members) == 0
	m.mu.Unlock()
	switch {
	case closed:
		return State{}, ErrClosed
	case !empty:
		return State{}, fmt.Errorf("%w: the Memory has applied writes; import into a new one", ErrNotEmpty)
	}
	fr, err := newFrameReader(r)
	if err != nil {
		return State{}, err
	}
	kind, body, err := fr.next()
	if err == io.EOF {
		return State{}, fmt.Errorf("%w: no header", ErrSnapshotTruncated)
	}
	if err != nil {
		return State{}, err
	}
	if kind != recHeader {
		return State{}, fmt.Errorf("%w: it starts with a %q record, not a header", ErrSnapshotCorrupt, kind)
	}
	var h snapHeader
	if err := decodeRecord(kind, body, &h); err != nil {
		return State{}, err
	}
	if err := checkHeader(h, storeMemory); err != nil {
		return State{}, err
	}
	var history []MemoryWrite
	requests := map[string]messages.Outcome{}
	members := map[string]messages.Member{}
	var got snapTrailer
	stage := byte(recHeader)
	for {
		kind, body, err := fr.next()
		if err == io.EOF {
			return State{}, fmt.Errorf("%w: it ends after %d bytes without its trailer", ErrSnapshotTruncated, fr.n)
		}
		if err != nil {
			return State{}, err
		}
		if !recordFollows(stage, kind) {
			return State{}, fmt.Errorf("%w: a %q record after a %q record", ErrSnapshotCorrupt, kind, stage)
		}
		stage = kind
		switch kind {
		case recWrite:
			var w snapWrite
			if err := decodeRecord(kind, body, &w); err != nil {
				return State{}, err
			}
			history = append(history, MemoryWrite{Seq: w.Seq, Index: w.Index, RequestID: w.RequestID, Stmt: w.Stmt, Timestamp: w.Timestamp})
			got.Writes++
			if got.Writes%1000 == 0 && progress != nil {
				progress(RestoreProgress{Bytes: fr.n, Rows: got.Writes})
			}
		case recRequest:
			var q snapRequest
			if err := decodeRecord(kind, body, &q); err != nil {
				return State{}, err
			}
			requests[q.ID] = messages.Outcome{Seq: q.Seq, Index: q.Idx, Code: messages.Code(q.Code), Error: q.Error}
			got.Requests++
		case recMember:
			var mb snapMember
			if err := decodeRecord(kind, body, &mb); err != nil {
				return State{}, err
			}
			members[mb.ID] = messages.Member{ID: mb.ID, Gen: mb.Gen, Removed: mb.Removed, Seq: mb.Seq}
			got.Members++
		case recEnd:
			var want snapTrailer
			if err := decodeRecord(kind, body, &want); err != nil {
				return State{}, err
			}
			if err := checkTrailer(got, want); err != nil {
				return State{}, err
			}
			if _, _, err := fr.next(); err != io.EOF {
				if err == nil {
					return State{}, fmt.Errorf("%w: data after the trailer", ErrSnapshotCorrupt)
				}
				return State{}, err
			}
			st := State{Applied: h.Applied, Epoch: h.Epoch}
			m.mu.Lock()
			if m.closed || m.st != (State{Gen: m.st.Gen}) || len(m.history) > 0 || len(m.requests) > 0 || len(m.members) > 0 {
				m.mu.Unlock()
				return State{}, fmt.Errorf("%w: the Memory changed during the import", ErrNotEmpty)
			}
			st.Gen = m.st.Gen
			m.st, m.history, m.requests, m.members = st, history, requests, members
			m.mu.Unlock()
			if progress != nil {
				progress(RestoreProgress{Bytes: fr.n, Rows: got.Writes})
			}
			return st, nil
		default:
			return State{}, fmt.Errorf("%w: a %q record in a Memory snapshot", ErrSnapshotCorrupt, kind)
		}
		if err := ctx.Err(); err != nil {
			return State{}, err
		}
	}
}
