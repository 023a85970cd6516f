package messages

import (
	"encoding/json"
	"fmt"
)

// Code classifies an error that crosses the wire, so programs can act on it
// without parsing the message.
type Code uint8

// Error codes carried in replies and outcomes.
const (
	CodeOK Code = iota
	// CodeBadRequest: the request itself is unusable (empty, too large,
	// not UTF-8, not one statement, unsupported statement, bad header).
	CodeBadRequest
	// CodeIsolation: the statement reaches outside the replica's keyspace.
	CodeIsolation
	// CodeNondeterministic: the statement would store different values on
	// different replicas and cannot be rewritten.
	CodeNondeterministic
	// CodeCQL: Cassandra rejected the statement (the same on every replica).
	CodeCQL
	// CodeUnavailable: no leader accepted the write in time; it may or may
	// not be applied: retry with the same request id to find out.
	CodeUnavailable
	// CodeStale: the ORDER came from a deposed leader and was not applied.
	CodeStale
	// CodeInternal: a fault inside Chorus or its storage.
	CodeInternal
)

var codeNames = [...]string{
	CodeOK:               "OK",
	CodeBadRequest:       "BAD_REQUEST",
	CodeIsolation:        "ISOLATION",
	CodeNondeterministic: "NONDETERMINISTIC",
	CodeCQL:              "CQL",
	CodeUnavailable:      "UNAVAILABLE",
	CodeStale:            "STALE_EPOCH",
	CodeInternal:         "INTERNAL",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", c)
}

// ParseCode is the inverse of Code.String.
func ParseCode(s string) Code {
	for i, n := range codeNames {
		if n == s {
			return Code(i)
		}
	}
	return CodeInternal
}

// Reply statuses.
const (
	StatusSuccess = "SUCCESS"
	StatusError   = "ERROR"
)

// Reply is what a client receives, as JSON: readable in a terminal and by
// any NATS client.
type Reply struct {
	Status string `json:"status"`
	// Seq is the log position of the ORDER holding the write; writes
	// committed together in one ORDER share it and are told apart by Index.
	Seq       uint64          `json:"seq,omitempty"`
	Index     uint32          `json:"index,omitempty"`
	Columns   []string        `json:"columns,omitempty"`
	Rows      json.RawMessage `json:"rows,omitempty"`
	Server    string          `json:"server,omitempty"`
	Code      string          `json:"code,omitempty"`
	Error     string          `json:"error,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
}

// WriteSuccess is the reply to a committed write.
func WriteSuccess(seq uint64, server, requestID string) Reply {
	return Reply{Status: StatusSuccess, Seq: seq, Server: server, RequestID: requestID}
}

// ReadSuccess is the reply to a read; rows is a JSON array of objects whose
// keys are columns, in the order of columns.
func ReadSuccess(columns []string, rows json.RawMessage, server string) Reply {
	if len(rows) == 0 {
		rows = json.RawMessage("[]")
	}
	return Reply{Status: StatusSuccess, Columns: columns, Rows: rows, Server: server}
}

// ReadSuccessAt is ReadSuccess from a replica that had applied seq when the
// read ran: the rows reflect every write up to seq (and maybe later ones
// applied while it ran).
func ReadSuccessAt(columns []string, rows json.RawMessage, server string, seq uint64) Reply {
	r := ReadSuccess(columns, rows, server)
	r.Seq = seq
	return r
}

// Failure is an ERROR reply.
func Failure(code Code, msg, server, requestID string) Reply {
	return Reply{Status: StatusError, Code: code.String(), Error: msg, Server: server, RequestID: requestID}
}

// OutcomeReply is the reply for a write that ended with outcome o.
func OutcomeReply(o Outcome, server, requestID string) Reply {
	r := WriteSuccess(o.Seq, server, requestID)
	if o.Code != CodeOK {
		r = Failure(o.Code, o.Error, server, requestID)
		r.Seq = o.Seq
	}
	r.Index = o.Index
	return r
}

// Encode renders r as one line of JSON.
func (r Reply) Encode() []byte {
	if b, ok := appendFlat(make([]byte, 0, 128), &r); ok {
		return b
	}
	b, err := json.Marshal(r)
	if err != nil { // only Rows can fail, and Rows is built by Chorus
		b, _ = json.Marshal(Failure(CodeInternal, "encoding reply: "+err.Error(), r.Server, r.RequestID))
	}
	return b
}

// DecodeReply parses a reply.
func DecodeReply(data []byte) (Reply, error) {
	var r Reply
	if !decodeFlat(data, &r) {
		r = Reply{}
		if err := json.Unmarshal(data, &r); err != nil {
			return r, fmt.Errorf("%w: reply is not JSON: %v", ErrMalformed, err)
		}
	}
	if r.Status != StatusSuccess && r.Status != StatusError {
		return r, fmt.Errorf("%w: reply status %q", ErrMalformed, r.Status)
	}
	return r, nil
}
