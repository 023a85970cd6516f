package messages

// ReadIndex asks the leader (on Subjects.ReadIndex) for a read index: a
// log seq that covers every write acknowledged before the request was
// received. A worker that has applied that far answers a linearizable read.
type ReadIndex struct {
	_msgpack struct{} `msgpack:",as_array"`
	Origin   string   // the asking worker
}

// ReadIndexReply is the leader's answer to a ReadIndex: Seq, confirmed in
// Epoch (under the lease or through the log), or an error (Code, Error)
// after which the worker asks again, maybe another leader.
type ReadIndexReply struct {
	_msgpack struct{} `msgpack:",as_array"`
	Epoch    uint64
	Seq      uint64
	Code     Code
	Error    string
	// Lease: confirmed under the leader's lease (else through the log).
	Lease bool
}

func (*ReadIndex) tag() tag      { return tagReadIndex }
func (*ReadIndexReply) tag() tag { return tagReadIndexReply }

// Validate implements Message.
func (r *ReadIndex) Validate() error {
	if r.Origin == "" {
		return invalid("read index request without origin")
	}
	return nil
}

// Validate implements Message.
func (r *ReadIndexReply) Validate() error {
	if r.Code == CodeOK && (r.Seq == 0 || r.Epoch == 0) {
		return invalid("read index %d in epoch %d", r.Seq, r.Epoch)
	}
	return nil
}
