package leader

import (
	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/messages"
)

// onReadIndex hands a worker's ReadIndex request to the loop.
func (n *Node) onReadIndex(m *nats.Msg) {
	var r messages.ReadIndex
	if m.Reply != "" && n.decode(m, &r) {
		n.events <- event{readIdx: m.Reply}
	}
}

// ReadIndex answers a worker's read-index request (Env).
func (n *Node) ReadIndex(to string, r messages.ReadIndexReply) {
	_ = n.nc.Publish(to, messages.MustEncode(&r))
}
