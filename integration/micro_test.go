package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/worker"
)

// On the shipped configuration, a connection without credentials (the
// client role) discovers the three workers of the micro service chorus,
// with their keyspaces, and reads their request and error counts: a
// refused statement in num_errors, a CQL error after admission in the
// endpoint's data.
func TestMicroDiscoveryAsClient(t *testing.T) {
	sn := chorustest.ShippedNATS(t)
	c := chorustest.StartSecureCluster(t, sn, 3)
	p := sn.Conn(t, chorustest.Anonymous)
	infos := chorustest.Discover[micro.Info](t, p.Conn, micro.InfoVerb, worker.ServiceName, 3, 10*time.Second)
	instance := map[string]string{} // worker ID: its micro instance ID
	for _, in := range infos {
		w := in.Metadata["worker"]
		if in.Metadata["keyspace"] != c.Keyspace(w) || len(in.Endpoints) != 2 || in.Endpoints[1].Subject != "db.request."+w {
			t.Fatalf("instance %+v", in)
		}
		instance[w] = in.ID
	}
	if len(instance) != 3 {
		t.Fatalf("instances %v, want one per worker %v", instance, c.IDs)
	}

	ask := func(subject, stmt, want string) {
		t.Helper()
		m, err := p.Request(subject, []byte(stmt), 30*time.Second)
		if err != nil || !strings.Contains(string(m.Data), want) {
			t.Fatalf("%q to %s: %v %s, want %s", stmt, subject, err, msgData(m), want)
		}
	}
	ask("db.request", "CREATE TABLE grade (id int PRIMARY KEY, events list<int>)", `"status":"SUCCESS"`)
	ask("db.request.server0", "SELECT * FROM missing", `"code":"CQL"`)
	ask("db.request.server1", "FROBNICATE grade", `"code":"BAD_REQUEST"`)
	ask("db.request.server2", "SELECT * FROM grade", `"status":"SUCCESS"`)

	type direct struct {
		requests, errors int
		later            string // data of the endpoint
	}
	want := map[string]direct{
		"server0": {1, 0, `{"failed_after_admission":{"CQL":1}}`},
		"server1": {1, 1, `{"failed_after_admission":{}}`},
		"server2": {1, 0, `{"failed_after_admission":{}}`},
	}
	chorustest.Eventually(t, 10*time.Second, func() error {
		for w, id := range instance {
			// One instance's stats, on its own subject.
			m, err := p.Request("$SRV.STATS.chorus."+id, nil, 5*time.Second)
			if err != nil {
				return err
			}
			var st micro.Stats
			if err := json.Unmarshal(m.Data, &st); err != nil {
				return err
			}
			if len(st.Endpoints) != 2 {
				return fmt.Errorf("%s: %+v", w, st.Endpoints)
			}
			e := st.Endpoints[1]
			if got := (direct{e.NumRequests, e.NumErrors, string(e.Data)}); got != want[w] {
				return fmt.Errorf("%s: direct endpoint %+v, want %+v", w, got, want[w])
			}
		}
		return nil
	})
	p.RequireAllowed(t)

	// The nats CLI, when `make nats-cli` installed it, sees the same.
	nats := filepath.Join(chorustest.RepoRoot(t), "bin", "nats")
	if _, err := os.Stat(nats); err != nil {
		t.Logf("no %s (make nats-cli): not checking the nats CLI", nats)
		return
	}
	cmd := exec.Command(nats, "--server", sn.URL, "micro", "ls", "chorus", "--json")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "NATS_CONTEXT=") // no context's credentials
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats micro ls: %v\n%s", err, out)
	}
	var listed []micro.Info
	if err := json.Unmarshal(out, &listed); err != nil {
		t.Fatalf("nats micro ls --json: %v\n%s", err, out)
	}
	var workers []string
	for _, in := range listed {
		workers = append(workers, in.Metadata["worker"])
	}
	if slices.Sort(workers); !slices.Equal(workers, c.IDs) {
		t.Fatalf("nats micro ls lists workers %v, want %v", workers, c.IDs)
	}
}
