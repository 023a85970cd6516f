package chorustest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Discover asks the instances of the micro service name for verb (PING,
// INFO or STATS, on micro.ControlSubject) and decodes the replies of the
// first want instances into T (micro.Ping, micro.Info or micro.Stats). It
// fails the test if fewer answer within timeout.
func Discover[T any](t testing.TB, nc *nats.Conn, verb micro.Verb, name string, want int, timeout time.Duration) []T {
	t.Helper()
	subject, err := micro.ControlSubject(verb, name, "")
	if err != nil {
		t.Fatal(err)
	}
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	var got []T
	for len(got) < want {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: %d of %d instances answered within %s: %v", subject, len(got), want, timeout, err)
		}
		var v T
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("%s: reply %q: %v", subject, m.Data, err)
		}
		got = append(got, v)
	}
	return got
}
