package messages

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// Errors of the codec.
var (
	// ErrMalformed is returned for bytes that are not a Chorus message.
	ErrMalformed = errors.New("messages: malformed message")
	// ErrWrongType is returned for a valid message of another type than
	// the subject carries.
	ErrWrongType = errors.New("messages: wrong message type")
	// ErrInvalid is returned for a decoded message whose fields are not
	// usable (missing worker name, zero sequence, ...).
	ErrInvalid = errors.New("messages: invalid message")
)

// tag is the first byte of every internal message: it names the type, so a
// message published on the wrong subject is rejected, not misread.
type tag byte

const (
	tagForward tag = 0xC1 + iota
	tagAccepted
	tagOrder
	tagAck
	tagHeartbeat
	tagReadIndex
	tagReadIndexReply
)

// Message is any internal message.
type Message interface {
	tag() tag
	// Validate reports a decoded message that cannot be acted on.
	Validate() error
}

// advisory is a message whose later fields only refine what its earlier
// ones say, so a reader may drop fields a newer writer added: Accepted
// (a newer leader's Accepted must not fail an older worker's forwards
// during a rolling upgrade).
type advisory interface{ advisory() }

func (*Accepted) advisory() {}

func (*Forward) tag() tag   { return tagForward }
func (*Accepted) tag() tag  { return tagAccepted }
func (*Order) tag() tag     { return tagOrder }
func (*Ack) tag() tag       { return tagAck }
func (*Heartbeat) tag() tag { return tagHeartbeat }

// Encode serialises m with its type tag: msgpack.Marshal's bytes after the
// tag, written once into a buffer of about the right size (every write
// passes through several messages; growing and copying them was garbage).
func Encode(m Message) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(sizeHint(m))
	buf.WriteByte(byte(m.tag()))
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sizeHint is about the encoded size of m: its strings and a little per
// field. A low guess costs a copy, not a failure.
func sizeHint(m Message) int {
	switch m := m.(type) {
	case *Order:
		n := 48 + len(m.Leader)
		for _, w := range m.Writes {
			n += 8 + len(w.RequestID) + len(w.Stmt) + len(w.Origin)
		}
		return n
	case *Ack:
		n := 48 + len(m.Worker) + len(m.Gen)
		for _, o := range m.Outcomes {
			n += 24 + len(o.Error)
		}
		return n
	case *Forward:
		return 24 + len(m.RequestID) + len(m.Reply) + len(m.Stmt) + len(m.Origin)
	}
	return 128
}

// MustEncode is Encode for messages built by Chorus itself, which always
// encode.
func MustEncode(m Message) []byte {
	b, err := Encode(m)
	if err != nil {
		panic(fmt.Sprintf("messages: encoding %T: %v", m, err))
	}
	return b
}

// Decode parses data into m, checking its type tag and its fields.
func Decode(data []byte, m Message) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if tag(data[0]) != m.tag() {
		return fmt.Errorf("%w: tag 0x%02x, want 0x%02x", ErrWrongType, data[0], byte(m.tag()))
	}
	if err := unmarshal(data[1:], m); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m.Validate()
}

// unmarshal decodes an array-encoded message; one written before fields
// were added at its end (an older worker, an old log entry) gets their
// zero values, so the log written by one version stays readable by the
// next. A longer array (a newer writer) is refused: dropping what a newer
// worker meant would make replicas differ. Only an advisory message
// (advisory) drops the fields it does not know.
func unmarshal(data []byte, m Message) error {
	err := msgpack.Unmarshal(data, m)
	if err == nil {
		return nil
	}
	var fields []msgpack.RawMessage
	if msgpack.Unmarshal(data, &fields) != nil {
		return err
	}
	want := arrayFields(reflect.TypeOf(m).Elem())
	if _, ok := m.(advisory); ok && len(fields) > want {
		known, perr := msgpack.Marshal(fields[:want])
		if perr != nil {
			return err
		}
		return msgpack.Unmarshal(known, m)
	}
	if len(fields) >= want {
		return err
	}
	for len(fields) < want {
		fields = append(fields, msgpack.RawMessage{0xc0}) // nil: the zero value
	}
	padded, perr := msgpack.Marshal(fields)
	if perr != nil {
		return err
	}
	return msgpack.Unmarshal(padded, m)
}

// arrayFields is how many fields an as_array struct encodes.
func arrayFields(t reflect.Type) int {
	n := 0
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_msgpack" || f.Tag.Get("msgpack") == "-" || !f.IsExported() {
			continue
		}
		n++
	}
	return n
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Validate implements Message.
func (f *Forward) Validate() error {
	switch {
	case f.RequestID == "":
		return invalid("forward without request id")
	case f.Stmt == "":
		return invalid("forward %s without statement", f.RequestID)
	case f.Origin == "":
		return invalid("forward %s without origin", f.RequestID)
	}
	return nil
}

// Validate implements Message.
func (a *Accepted) Validate() error {
	if a.Epoch == 0 { // Seq 0: answered to the client without ordering
		return invalid("accepted without epoch")
	}
	return nil
}

// Validate implements Message.
func (o *Order) Validate() error {
	switch {
	case o.Seq == 0 || o.Epoch == 0:
		return invalid("order with seq %d epoch %d", o.Seq, o.Epoch)
	case o.Kind == OrderWrite && len(o.Writes) == 0:
		return invalid("write order %d without writes", o.Seq)
	case o.Kind > OrderMember:
		return invalid("order %d of unknown kind %d", o.Seq, o.Kind)
	case o.Kind == OrderSnapshot && o.SnapshotBy == "":
		return invalid("snapshot order %d names no worker", o.Seq)
	case o.Kind == OrderMember && (o.Member == nil || o.Member.ID == "" || o.Member.Gen == "" ||
		o.Member.Op != MemberAdd && o.Member.Op != MemberRemove):
		return invalid("member order %d without a valid change", o.Seq)
	}
	for i, w := range o.Writes {
		if w.Stmt == "" || w.RequestID == "" {
			return invalid("write %d of order %d without statement or request id", i, o.Seq)
		}
	}
	return nil
}

// Validate implements Message.
func (a *Ack) Validate() error {
	if a.Worker == "" || a.Applied == 0 {
		return invalid("ack from %q for seq %d", a.Worker, a.Applied)
	}
	for _, o := range a.Outcomes {
		if o.Seq == 0 || o.Seq > a.Applied {
			return invalid("ack from %s up to %d has outcome for seq %d", a.Worker, a.Applied, o.Seq)
		}
	}
	return nil
}

// Validate implements Message.
func (h *Heartbeat) Validate() error {
	if h.Worker == "" {
		return invalid("heartbeat without worker")
	}
	return nil
}
