package worker_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorusdb/chorus/chorustest"
	"github.com/chorusdb/chorus/worker"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMainServesMetrics runs chorus-worker's Main (with the no-op store, so
// no Cassandra) with CHORUS_METRICS_ADDR on a random port: it says where it
// serves, /healthz and /readyz answer 200 once it leads, /metrics shows it
// leading, and SIGTERM stops it.
func TestMainServesMetrics(t *testing.T) {
	srv := startNATS(t)
	t.Setenv("CHORUS_ID", "solo")
	t.Setenv("CHORUS_NATS_URL", srv.ClientURL())
	t.Setenv("CHORUS_SUBJECT_PREFIX", "m"+randomHex())
	t.Setenv("CHORUS_NOOP_STORE", "true")
	t.Setenv("CHORUS_LEASE_TTL", "1s")
	t.Setenv("CHORUS_METRICS_ADDR", "127.0.0.1:0")
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- worker.Main(nil, &stderr) }()
	var exit *int
	defer func() {
		if exit != nil {
			return
		}
		select {
		case <-done: // Main has returned and no longer catches SIGTERM
		default: // it logged its address, so it has its signal handler
			if strings.Contains(stderr.String(), "serving /metrics") {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				<-done
			}
		}
	}()

	addr := regexp.MustCompile(`serving /metrics.* addr=(127\.0\.0\.1:\d+)`)
	var url string
	chorustest.Eventually(t, converge, func() error {
		m := addr.FindStringSubmatch(stderr.String())
		if m == nil {
			return fmt.Errorf("no metrics address in the log:\n%s", stderr.String())
		}
		url = "http://" + m[1]
		return nil
	})
	chorustest.Eventually(t, converge, func() error {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body, err := get(url + path)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s: %d %q", path, code, body)
			}
		}
		s, err := scrapeMetrics(url)
		if err != nil {
			return err
		}
		if v, _ := s.value("chorus_leader", "worker", "solo"); v != 1 {
			return fmt.Errorf("chorus_leader{worker=solo} = %v, want 1", v)
		}
		return nil
	})

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		exit = &code
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(converge):
		t.Fatalf("Main did not stop on SIGTERM:\n%s", stderr.String())
	}
	if _, _, err := get(url + "/healthz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the metrics server outlived Main: %v", err)
	}
}
