package messages

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ReadLevel is how fresh a read must be (the Chorus-Consistency header of
// a SELECT). Writes keep their own levels (Consistency: all, one).
type ReadLevel uint8

const (
	// ReadLocal answers from the receiving replica as it is (the default):
	// fast, possibly stale; the reply's seq says how far it had applied.
	ReadLocal ReadLevel = iota
	// ReadLinearizable sees every write acknowledged before the read
	// began: the worker asks the leader for a read index and waits until
	// its replica has applied that far.
	ReadLinearizable
	// ReadMinSeq waits until the replica has applied ReadConsistency.Seq
	// (read-your-writes: pass the seq of your own write's reply).
	ReadMinSeq
	// ReadBounded answers locally if the replica was caught up with the
	// leader no longer than ReadConsistency.Bound ago, and takes the
	// linearizable path otherwise.
	ReadBounded
)

// ReadConsistency is a read's level with its argument.
type ReadConsistency struct {
	Level ReadLevel
	Seq   uint64        // ReadMinSeq
	Bound time.Duration // ReadBounded
}

// ReadForms lists the accepted header values, for error messages.
const ReadForms = "local, linearizable, min_seq:<seq> (e.g. min_seq:42) or bounded:<duration> (e.g. bounded:1s)"

// ParseReadConsistency reads the Chorus-Consistency header of a read;
// "" means local. Names are case-insensitive.
func ParseReadConsistency(s string) (ReadConsistency, error) {
	v := strings.TrimSpace(s)
	name, arg, hasArg := strings.Cut(v, ":")
	bad := func(why string) (ReadConsistency, error) {
		return ReadConsistency{}, fmt.Errorf("%s %q on a read: %s; use %s", HeaderConsistency, s, why, ReadForms)
	}
	switch strings.ToLower(name) {
	case "", "local":
		if hasArg {
			return bad("local takes no argument")
		}
		return ReadConsistency{Level: ReadLocal}, nil
	case "linearizable":
		if hasArg {
			return bad("linearizable takes no argument")
		}
		return ReadConsistency{Level: ReadLinearizable}, nil
	case "min_seq":
		seq, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 64)
		if !hasArg || err != nil {
			return bad("min_seq needs a sequence number")
		}
		return ReadConsistency{Level: ReadMinSeq, Seq: seq}, nil
	case "bounded":
		d, err := time.ParseDuration(strings.TrimSpace(arg))
		if !hasArg || err != nil || d <= 0 {
			return bad("bounded needs a positive duration")
		}
		return ReadConsistency{Level: ReadBounded, Bound: d}, nil
	case "all", "one":
		return bad("all and one are write levels")
	}
	return bad("unknown level")
}

// String is the header value that parses back to c.
func (c ReadConsistency) String() string {
	switch c.Level {
	case ReadLinearizable:
		return "linearizable"
	case ReadMinSeq:
		return "min_seq:" + strconv.FormatUint(c.Seq, 10)
	case ReadBounded:
		return "bounded:" + c.Bound.String()
	}
	return "local"
}
