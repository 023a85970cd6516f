package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/chorusdb/chorus/messages"
)

// ErrNoopStore is returned for reads from a Noop store.
var ErrNoopStore = errors.New("store: this worker runs with CHORUS_NOOP_STORE and has no data to read")

// Noop acknowledges every write without storing anything. It exists to
// measure the ordering layer alone (NATS, the JetStream log, ACK
// collection); a worker using it is not a replica.
type Noop struct{}

// Apply implements the worker's Store: every write succeeds at once.
func (Noop) Apply(_ context.Context, orders []messages.Order) ([][]messages.Outcome, error) {
	outs := make([][]messages.Outcome, len(orders))
	for n, o := range orders {
		outs[n] = make([]messages.Outcome, len(o.Writes))
		for i := range outs[n] {
			outs[n][i] = messages.Outcome{Seq: o.Seq, Index: uint32(i)}
		}
	}
	return outs, nil
}

// Query implements the worker's Store.
func (Noop) Query(context.Context, string) ([]string, json.RawMessage, error) {
	return nil, nil, ErrNoopStore
}

// Requests implements the worker's Store: nothing is remembered.
func (Noop) Requests(context.Context) ([]Request, error) { return nil, nil }

// Close implements the worker's Store.
func (Noop) Close() {}

// Members implements the worker's Store: a Noop keyspace records none.
func (Noop) Members(context.Context) ([]messages.Member, error) { return nil, nil }
