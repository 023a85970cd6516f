package worker

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/chorusdb/chorus/messages"
	"github.com/chorusdb/chorus/metrics"
)

// ServiceName is the NATS micro service every worker is an instance of:
// `nats micro ls`, `nats micro info chorus` and `nats micro stats chorus`
// list the workers, their version and their request counts. Discovery
// ($SRV.PING|INFO|STATS) is read-only; the client role may use it.
const ServiceName = "chorus"

// endpoint is one of the worker's request endpoints.
type endpoint int

const (
	sharedEndpoint endpoint = iota // <prefix>.request, in the workers' queue group
	ownEndpoint                    // <prefix>.request.<ID>, this worker only
)

var endpointNames = [...]string{sharedEndpoint: "request", ownEndpoint: "request_direct"}

// service is the worker's micro service. How it counts, since Chorus
// answers most requests after the NATS callback returns while micro
// counts a request when its handler returns:
//   - num_requests: every request NATS delivered to the endpoint.
//   - num_errors: the requests the worker refused at the door (the checks
//     failed: bad request, isolation, nondeterministic; or overloaded or
//     stopping: UNAVAILABLE), and NATS's drops of a slow endpoint. A
//     refusal is answered with micro's Error: the body is Chorus's usual
//     JSON reply, unchanged, and the headers Nats-Service-Error (Chorus's
//     code and message) and Nats-Service-Error-Code (an HTTP-like 400 or
//     503) are added. Clients read the body and ignore the headers; `nats
//     request` prints them above it.
//   - data.failed_after_admission: the ERROR replies this worker sent for
//     requests it had admitted (a read Cassandra failed, a write no leader
//     accepted), by Chorus code, without headers, as before. The outcome
//     of a write the leader ordered is the leader's reply, counted in its
//     metrics (/metrics), not here.
//   - processing_time: the time to admit, not to answer.
type service struct {
	micro.Service
	mu    sync.Mutex
	later [len(endpointNames)]map[string]uint64
}

// failedLater counts an ERROR reply to an admitted request.
func (s *service) failedLater(ep endpoint, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.later[ep] == nil {
		s.later[ep] = map[string]uint64{}
	}
	s.later[ep][code]++
}

// endpointData is an endpoint's data in the micro stats.
type endpointData struct {
	FailedAfterAdmission map[string]uint64 `json:"failed_after_admission"`
}

func (s *service) stats(e *micro.Endpoint) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := endpointData{FailedAfterAdmission: map[string]uint64{}}
	for i, name := range endpointNames {
		if name == e.Name {
			for code, n := range s.later[i] {
				d.FailedAfterAdmission[code] = n
			}
		}
	}
	return d
}

// startService registers the worker as an instance of ServiceName with its
// request endpoints on the subjects and queue group of the contract.
func (w *Worker) startService() (*service, error) {
	// Set before any request can arrive: respond counts into it.
	w.service = &service{}
	svc, err := micro.AddService(w.nc, micro.Config{
		Name:         ServiceName,
		Version:      version(),
		Description:  fmt.Sprintf("Chorus worker %s (keyspace %s, subjects %s)", w.cfg.ID, w.cfg.KeyspaceName(), w.subjects.Request()),
		Metadata:     map[string]string{"worker": w.cfg.ID, "keyspace": w.cfg.KeyspaceName(), "subject_prefix": w.cfg.SubjectPrefix},
		StatsHandler: w.service.stats,
	})
	if err != nil {
		return nil, fmt.Errorf("registering the micro service %s: %w", ServiceName, err)
	}
	w.service.Service = svc
	// The bounds of the subscriptions as before (natsconn.go): past them NATS
	// drops messages, which micro counts as errors and the worker's error
	// handler counts and logs (micro calls it too).
	limits := micro.WithEndpointPendingLimits(requestPendingMsgs, requestPendingBytes)
	err = errors.Join(
		svc.AddEndpoint(endpointNames[sharedEndpoint], w.door(sharedEndpoint), limits,
			micro.WithEndpointSubject(w.subjects.Request()), micro.WithEndpointQueueGroup(messages.QueueGroup),
			micro.WithEndpointMetadata(map[string]string{"serves": "a statement, by any one worker"})),
		svc.AddEndpoint(endpointNames[ownEndpoint], w.door(ownEndpoint), limits,
			micro.WithEndpointSubject(w.subjects.RequestTo(w.cfg.ID)), micro.WithEndpointQueueGroupDisabled(),
			micro.WithEndpointMetadata(map[string]string{"serves": "a statement, by worker " + w.cfg.ID})),
	)
	if err == nil {
		// Make sure the server has the subscriptions before we say we serve.
		// A connection that is reconnecting (a NATS cluster losing a server)
		// sends them again once it is back: that is no reason to stop.
		if ferr := w.nc.Flush(); ferr != nil {
			if w.nc.IsClosed() {
				err = ferr
			} else {
				w.log.Warn("cannot confirm the request subscriptions with NATS yet; they are sent again on reconnecting", "err", ferr)
			}
		}
	}
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("serving %s and %s: %w", w.subjects.Request(), w.subjects.RequestTo(w.cfg.ID), err)
	}
	return w.service, nil
}

// door is an endpoint's handler, run in its NATS callback: it admits the
// request (pure checks) and hands it to the serving goroutines without
// blocking, or refuses it there.
func (w *Worker) door(ep endpoint) micro.HandlerFunc {
	return func(r micro.Request) {
		m := &nats.Msg{Subject: r.Subject(), Reply: r.Reply(), Header: nats.Header(r.Headers()), Data: r.Data()}
		reqID := m.Header.Get(messages.HeaderRequestID)
		unavailable := func(why string) {
			w.metrics.Request(metrics.RequestOverloaded)
			refuse(r, messages.Failure(messages.CodeUnavailable, why, w.cfg.ID, reqID))
		}
		if !w.inflight.take(m) {
			unavailable("worker " + w.cfg.ID + " holds too many request bytes; retry later")
			return
		}
		q, failure := w.admit(m, ep)
		if failure != nil {
			w.inflight.release(m)
			refuse(r, *failure)
			return
		}
		w.gate.RLock()
		defer w.gate.RUnlock()
		if w.closed {
			w.inflight.release(m)
			unavailable("worker " + w.cfg.ID + " is stopping; the request was not applied: retry")
			return
		}
		select {
		case w.requests <- q:
		default:
			w.inflight.release(m)
			unavailable("worker " + w.cfg.ID + " is overloaded; retry later")
		}
	}
}

// refuse answers a refused request with its reply as the body and micro's
// error headers, so that micro counts it.
func refuse(r micro.Request, reply messages.Reply) {
	if r.Reply() == "" {
		return
	}
	status := "400"
	if reply.Code == messages.CodeUnavailable.String() {
		status = "503"
	}
	_ = r.Error(status, headerValue(reply.Code+": "+reply.Error), reply.Encode())
}

// maxErrorHeader bounds the Nats-Service-Error header (and micro's last
// error); the body has the whole message.
const maxErrorHeader = 512

// headerValue makes s a header value: one line (an error may quote a
// statement's newlines), at most maxErrorHeader bytes, cut on a rune.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= maxErrorHeader {
		return s
	}
	cut := maxErrorHeader
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
