package metrics

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check answers a health or readiness question: ok, and a line saying why
// (or why not).
type Check func() (ok bool, why string)

// Handler serves /metrics from m's registry, and /healthz and /readyz
// from the checks: 200 with "ok: ..." or 503 with "not ready: ..." and
// the like, in plain text for a terminal and a probe alike.
func Handler(m *Metrics, healthy, ready Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("/healthz", checkHandler(healthy))
	mux.Handle("/readyz", checkHandler(ready))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "chorus-worker: /metrics (Prometheus), /healthz (process up, NATS connected), /readyz (caught up and in the ACK set, or leading)")
	})
	return mux
}

func checkHandler(c Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ok, why := c()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
}
