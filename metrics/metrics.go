// Package metrics defines the Prometheus metrics of a Chorus worker and
// serves them, with /healthz and /readyz, on CHORUS_METRICS_ADDR.
//
// The protocol cores (leader.Core, worker.Replica) never call it: the
// wiring around them counts events with the methods of Metrics (each a
// no-op on a nil *Metrics), and the gauges are read at scrape time from a
// State snapshot the worker assembles from its atomics and the cores'
// Stats() and Status. Each worker has its own Registry, so several
// workers can run in one process (tests).
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chorusdb/chorus/messages"
)

// Namespace prefixes every Chorus metric.
const Namespace = "chorus"

// Order kinds, as the kind label of chorus_orders_appended_total names them.
var orderKinds = map[messages.OrderKind]string{
	messages.OrderWrite: "write", messages.OrderEpoch: "epoch",
	messages.OrderSnapshot: "snapshot", messages.OrderMember: "member",
}

// Request kinds, the kind label of chorus_requests_total.
const (
	RequestRead       = "read"       // answered from this replica
	RequestWrite      = "write"      // forwarded to the leader
	RequestInvalid    = "invalid"    // refused by the checks (bad request, isolation, nondeterministic)
	RequestOverloaded = "overloaded" // refused: the worker holds too many requests
)

// Store operations, the op label of chorus_store_errors_total.
const (
	OpApply = "apply"
	OpQuery = "query"
)

// MemberStates are the values of the state label of chorus_members.
var MemberStates = []string{messages.StateLive, messages.StateJoining, messages.StateOut, messages.StateRemoved, messages.StateUnknown}

// Metrics are one worker's metrics. The methods count events; all are
// safe for concurrent use and do nothing on a nil *Metrics.
type Metrics struct {
	reg *prometheus.Registry

	writesCommitted prometheus.Counter
	writesFailed    *prometheus.CounterVec
	commitLatency   prometheus.Histogram
	ordersAppended  *prometheus.CounterVec
	orderWrites     prometheus.Histogram
	appendFailures  prometheus.Counter
	stepDowns       prometheus.Counter
	exactlyOnceHits prometheus.Counter

	applyLatency  prometheus.Histogram
	applyEntries  prometheus.Histogram
	applyWrites   prometheus.Histogram
	writesApplied prometheus.Counter
	storeErrors   *prometheus.CounterVec

	requests       *prometheus.CounterVec
	forwardRetries prometheus.Counter
	forwardsFailed prometheus.Counter
	forwardsAgain  prometheus.Counter
}

// latencyBuckets cover a commit or an apply: 0.5ms to ~16s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// countBuckets cover writes or entries per ORDER or apply: 1 to 1024.
var countBuckets = prometheus.ExponentialBuckets(1, 2, 11)

// New registers worker id's metrics on a registry of their own, with the
// Go runtime and process collectors; state is read at every scrape for
// the gauges (nil: none).
func New(id string, state func() State) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := prometheus.WrapRegistererWith(prometheus.Labels{"worker": id}, reg)
	m := &Metrics{reg: reg}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		r.MustRegister(c)
		return c
	}
	counterVec := func(name, help, label string, values []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, []string{label})
		for _, v := range values { // every series exists from the start, at 0
			c.WithLabelValues(v)
		}
		r.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
		r.MustRegister(h)
		return h
	}
	var codes []string
	for c := messages.CodeBadRequest; c <= messages.CodeInternal; c++ {
		codes = append(codes, c.String())
	}
	kinds := []string{"write", "epoch", "snapshot", "member"}

	m.writesCommitted = counter("writes_committed_total", "Writes this worker, as leader, answered SUCCESS: applied by every live replica (or by its own for consistency one).")
	m.writesFailed = counterVec("writes_failed_total", "Writes this worker, as leader, answered ERROR, by error code (CQL: rejected by Cassandra on every replica).", "code", codes)
	m.commitLatency = histogram("commit_duration_seconds", "Leader: time from a FORWARD received to the SUCCESS reply sent (ordered, appended and applied by the replicas).", latencyBuckets)
	m.ordersAppended = counterVec("orders_appended_total", "Leader: ORDERs appended to the log, by kind.", "kind", kinds)
	m.orderWrites = histogram("order_writes", "Leader: client writes per write ORDER appended (group commit).", countBuckets)
	m.appendFailures = counter("order_append_failures_total", "Leader: appends to the log that failed (another leader appended, or the log is unreachable); each ends the term.")
	m.stepDowns = counter("leader_stepdowns_total", "Times this worker gave up leading (lease lost or expired, append failed, own replica lagging).")
	m.exactlyOnceHits = counter("exactly_once_hits_total", "Leader: FORWARDs of a request id already applied, answered with the recorded outcome instead of being applied again.")

	m.applyLatency = histogram("apply_duration_seconds", "Replica: duration of one store apply call (Cassandra batch of consecutive ORDERs).", latencyBuckets)
	m.applyEntries = histogram("apply_entries", "Replica: log entries per store apply call.", countBuckets)
	m.applyWrites = histogram("apply_writes", "Replica: client writes per store apply call.", countBuckets)
	m.writesApplied = counter("writes_applied_total", "Replica: client writes applied to this worker's keyspace.")
	m.storeErrors = counterVec("store_errors_total", "Cassandra failures: apply calls that failed (retried, never skipped) and reads the store could not answer.", "op", []string{OpApply, OpQuery})

	m.requests = counterVec("requests_total", "Client requests this worker received, by kind: read, write (forwarded), invalid (refused by the checks), overloaded (refused, retry later).", "kind",
		[]string{RequestRead, RequestWrite, RequestInvalid, RequestOverloaded})
	m.forwardRetries = counter("forward_retries_total", "Forwards of a write to the leader attempted again (timeout or no leader), under the same request id.")
	m.forwardsAgain = counter("forwards_again_total", "Accepted writes handed to a new leader again because the leader that accepted them was replaced before it was known to have answered them.")
	m.forwardsFailed = counter("forwards_failed_total", "Writes answered UNAVAILABLE because no leader accepted them within CHORUS_FORWARD_TIMEOUT (or the worker was stopping).")

	if state != nil {
		r.MustRegister(&stateCollector{state: state})
	}
	return m
}

// Registry is the registry holding the worker's metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// WriteAnswered counts a write the leader answered with code (CodeOK:
// committed), received as a FORWARD at received.
func (m *Metrics) WriteAnswered(code messages.Code, received, now time.Time) {
	if m == nil {
		return
	}
	if code == messages.CodeOK {
		m.writesCommitted.Inc()
		m.commitLatency.Observe(now.Sub(received).Seconds())
		return
	}
	m.writesFailed.WithLabelValues(code.String()).Inc()
}

// Appended counts an ORDER of kind with writes client writes in the log.
func (m *Metrics) Appended(kind messages.OrderKind, writes int) {
	if m == nil {
		return
	}
	name, ok := orderKinds[kind]
	if !ok {
		return
	}
	m.ordersAppended.WithLabelValues(name).Inc()
	if kind == messages.OrderWrite {
		m.orderWrites.Observe(float64(writes))
	}
}

// AppendFailed counts a failed append.
func (m *Metrics) AppendFailed() {
	if m != nil {
		m.appendFailures.Inc()
	}
}

// SteppedDown counts a step-down.
func (m *Metrics) SteppedDown() {
	if m != nil {
		m.stepDowns.Inc()
	}
}

// ExactlyOnceHit counts a retry answered from the exactly-once record.
func (m *Metrics) ExactlyOnceHit() {
	if m != nil {
		m.exactlyOnceHits.Inc()
	}
}

// Applied records one store apply call of entries ORDERs holding writes
// client writes, that took d and failed with err (nil: applied).
func (m *Metrics) Applied(entries, writes int, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.applyLatency.Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(OpApply).Inc()
		return
	}
	m.applyEntries.Observe(float64(entries))
	m.applyWrites.Observe(float64(writes))
	m.writesApplied.Add(float64(writes))
}

// QueryFailed counts a read the store could not answer.
func (m *Metrics) QueryFailed() {
	if m != nil {
		m.storeErrors.WithLabelValues(OpQuery).Inc()
	}
}

// Request counts a client request of kind (RequestRead and the like).
func (m *Metrics) Request(kind string) {
	if m != nil {
		m.requests.WithLabelValues(kind).Inc()
	}
}

// ForwardRetried counts a forward attempted again.
func (m *Metrics) ForwardRetried() {
	if m != nil {
		m.forwardRetries.Inc()
	}
}

// ForwardAgain counts an accepted write handed to a new leader again.
func (m *Metrics) ForwardAgain() {
	if m != nil {
		m.forwardsAgain.Inc()
	}
}

// ForwardFailed counts a write given up as UNAVAILABLE.
func (m *Metrics) ForwardFailed() {
	if m != nil {
		m.forwardsFailed.Inc()
	}
}
