package etcdload

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chorusdb/chorus/bench"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The load puts the workload's statements under Keys keys of a real etcd
// (bin/etcd, one member).
func TestPutsIntoEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bin/etcd")
	}
	bin, _ := filepath.Abs("../../bin/etcd")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no %s: build it with `make etcd` (deploy/local/etcd.sh build)", bin)
	}
	client, peer := freePort(t), freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--name", "m0", "--data-dir", filepath.Join(dir, "m0"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client), "--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("m0=http://127.0.0.1:%d", peer), "--log-level", "error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx := context.Background()
	c, err := Connect(ctx, []string{fmt.Sprintf("127.0.0.1:%d", client)}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bench.AppendWorkload
	w.Keys = 10
	res, err := bench.Run(ctx, bench.Options{Concurrency: 4, Requests: 100, Timeout: 10 * time.Second, Workload: w}, &Puts{Client: c, Keys: w.Keys})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 100 || res.Errors != 0 {
		t.Fatalf("result %+v", res)
	}
	got, err := c.Get(ctx, KeyPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, kv := range got.Kvs {
		if string(kv.Key) == KeyPrefix+"ready" {
			continue
		}
		keys++
		if !strings.HasPrefix(string(kv.Value), "UPDATE bench_list SET events = events + [") {
			t.Fatalf("%s = %q", kv.Key, kv.Value)
		}
	}
	if keys != w.Keys {
		t.Fatalf("%d keys written, want %d", keys, w.Keys)
	}
}
