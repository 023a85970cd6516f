package worker_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/worker"
)

// TestMicroService: every worker is an instance of the micro service
// chorus with its two request endpoints, and the stats count the
// requests and the refused ones; replies keep Chorus's body.
func TestMicroService(t *testing.T) {
	t.Parallel()
	c := newMemCluster(t, 3)
	infos := chorustest.Discover[micro.Info](t, c.nc, micro.InfoVerb, worker.ServiceName, 3, converge)
	byWorker := map[string]micro.Info{} // worker ID: its instance
	for _, in := range infos {
		w := in.Metadata["worker"]
		if in.Name != worker.ServiceName || in.Version == "" || in.ID == "" || in.Metadata["keyspace"] != w || in.Metadata["subject_prefix"] != c.prefix {
			t.Fatalf("instance %+v", in)
		}
		want := []micro.EndpointInfo{
			{Name: "request", Subject: c.prefix + ".request", QueueGroup: messages.QueueGroup},
			{Name: "request_direct", Subject: c.prefix + ".request." + w},
		}
		for i := range want {
			if i >= len(in.Endpoints) || in.Endpoints[i].Name != want[i].Name || in.Endpoints[i].Subject != want[i].Subject || in.Endpoints[i].QueueGroup != want[i].QueueGroup {
				t.Fatalf("%s's endpoints %+v, want %+v", w, in.Endpoints, want)
			}
		}
		byWorker[w] = in
	}
	if ids := slices.Sorted(maps.Keys(byWorker)); !slices.Equal(ids, c.ids()) {
		t.Fatalf("instances of workers %v, want %v", ids, c.ids())
	}
	pings := chorustest.Discover[micro.Ping](t, c.nc, micro.PingVerb, worker.ServiceName, 3, converge)
	for _, p := range pings {
		if in := byWorker[p.Metadata["worker"]]; p.ID != in.ID || p.Version != in.Version {
			t.Fatalf("ping %+v, info %+v", p, in)
		}
	}

	// Worker serverI gets I+1 good reads and I refused statements on its
	// own subject; the shared subject gets 4 of each and one write.
	type count struct{ requests, errors int }
	direct := map[string]count{}
	for i, id := range c.ids() {
		for range i + 1 {
			requireReply(t, c.nc, c.prefix+".request."+id, "SELECT * FROM t", false)
		}
		for range i {
			requireReply(t, c.nc, c.prefix+".request."+id, "FROBNICATE t", true)
		}
		direct[id] = count{2*i + 1, i}
	}
	for range 4 {
		requireReply(t, c.nc, c.prefix+".request", "SELECT * FROM t", false)
		requireReply(t, c.nc, c.prefix+".request", "UPDATE server1.t SET a = a + [1] WHERE k = 1", true)
	}
	c.write(c.prefix+".request", "UPDATE t SET a = a + [1] WHERE k = 1")
	shared := count{9, 4}

	// micro counts a request when its handler has returned, which may be
	// after the reply: poll.
	chorustest.Eventually(t, converge, func() error {
		stats := chorustest.Discover[micro.Stats](t, c.nc, micro.StatsVerb, worker.ServiceName, 3, converge)
		var sum count
		for _, st := range stats {
			w := st.Metadata["worker"]
			if len(st.Endpoints) != 2 {
				return fmt.Errorf("%s: endpoints %+v", w, st.Endpoints)
			}
			s, d := st.Endpoints[0], st.Endpoints[1]
			if got := (count{d.NumRequests, d.NumErrors}); got != direct[w] || d.Name != "request_direct" {
				return fmt.Errorf("%s: %s %+v, want %+v", w, d.Name, got, direct[w])
			}
			if d.NumErrors > 0 && !bytes.Contains([]byte(d.LastError), []byte("BAD_REQUEST")) {
				return fmt.Errorf("%s: last error %q", w, d.LastError)
			}
			sum.requests += s.NumRequests
			sum.errors += s.NumErrors
		}
		if sum != shared {
			return fmt.Errorf("the shared endpoint counted %+v over the workers, want %+v", sum, shared)
		}
		return nil
	})

	// A stopped worker has left the service; the others are still in it.
	c.stop("server2")
	for id, in := range byWorker {
		_, err := c.nc.Request("$SRV.PING.chorus."+in.ID, nil, reqTimeout)
		if gone := errors.Is(err, nats.ErrNoResponders); gone != (id == "server2") || (!gone && err != nil) {
			t.Fatalf("ping of %s's instance after server2 stopped: %v", id, err)
		}
	}
}

// requireReply sends stmt and checks the reply's body is Chorus's JSON
// reply, byte for byte what messages.Reply encodes, with micro's error
// headers on a refusal and no header otherwise.
func requireReply(t *testing.T, nc *nats.Conn, subject, stmt string, refused bool) {
	t.Helper()
	m, err := nc.Request(subject, []byte(stmt), reqTimeout)
	if err != nil {
		t.Fatalf("%q to %s: %v", stmt, subject, err)
	}
	r, err := messages.DecodeReply(m.Data)
	if err != nil {
		t.Fatalf("%q to %s: reply %q: %v", stmt, subject, m.Data, err)
	}
	if enc := r.Encode(); !bytes.Equal(enc, m.Data) {
		t.Fatalf("%q to %s: body\n%s\nis not Chorus's reply\n%s", stmt, subject, m.Data, enc)
	}
	if got := r.Status == messages.StatusError; got != refused {
		t.Fatalf("%q to %s: %s, want refused %v", stmt, subject, m.Data, refused)
	}
	want := nats.Header(nil)
	if refused {
		want = nats.Header{micro.ErrorCodeHeader: {"400"}, micro.ErrorHeader: {r.Code + ": " + r.Error}}
	}
	// The error header is the code and message, or a cut of them ending in …
	h := m.Header.Get(micro.ErrorHeader)
	cut := strings.HasSuffix(h, "…") && strings.HasPrefix(want.Get(micro.ErrorHeader), strings.TrimSuffix(h, "…"))
	if len(m.Header) != len(want) || m.Header.Get(micro.ErrorCodeHeader) != want.Get(micro.ErrorCodeHeader) || (h != want.Get(micro.ErrorHeader) && !cut) {
		t.Fatalf("%q to %s: headers %v, want %v", stmt, subject, m.Header, want)
	}
}
