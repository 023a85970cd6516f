package leader

import "github.com/chorusdb/chorus/messages"

// Env is what a Core's actions need from the world. Node implements it on
// NATS; the simulation implements it on its model of the network, the log
// and the lease bucket. Results come back to the Core later, on its own
// goroutine: Append through Core.Appended (in append order), Lease through
// Core.LeaseDone, a failed Subscribe through Core.StepDown.
type Env interface {
	Append(o messages.Order)
	Lease(op LeaseOp)
	Accept(to string, a messages.Accepted)
	Respond(to string, r messages.Reply)
	Status(to string, st messages.Status)
	// ReadIndex answers a worker's read-index request.
	ReadIndex(to string, r messages.ReadIndexReply)
	Subscribe()
	Unsubscribe()
	// Trim deletes the log's entries below keepFrom; the result comes
	// back through Core.Trimmed.
	Trim(keepFrom uint64)
	// Log records Ready, StepDown and Notice.
	Log(a Action)
}

// Execute carries out a Core's actions, in order.
func Execute(env Env, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Append:
			env.Append(a.Order)
		case LeaseOp:
			env.Lease(a)
		case Accept:
			env.Accept(a.To, a.Accepted)
		case Respond:
			env.Respond(a.To, a.Reply)
		case SendStatus:
			env.Status(a.To, a.Status)
		case SendReadIndex:
			env.ReadIndex(a.To, a.Reply)
		case Subscribe:
			env.Subscribe()
		case Unsubscribe:
			env.Unsubscribe()
		case Trim:
			env.Trim(a.KeepFrom)
		case Ready, StepDown, Notice:
			env.Log(a)
		}
	}
}
