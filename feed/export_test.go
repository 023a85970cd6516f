package feed

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chorusdb/chorus/messages"
)

// The publish window, for the external tests (chorustest imports this
// package through the worker).
type Window = window

const MaxWindow = maxWindow

func NewWindow(js jetstream.JetStream, stream string) *Window { return &window{js: js, stream: stream} }

func (w *window) Add(ctx context.Context, subject string, ch messages.Change) error {
	return w.add(ctx, subject, ch)
}
func (w *window) Settle(ctx context.Context) (int, error) { return w.settle(ctx) }
func (w *window) Full() bool                              { return w.full() }
