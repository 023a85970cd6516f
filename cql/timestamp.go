package cql

import (
	"fmt"
	"strconv"
)

// WithTimestamp returns the text of an INSERT, UPDATE or DELETE with a
// USING TIMESTAMP ts clause added. Several client writes applied in one
// Cassandra batch must keep their own, increasing write timestamps: with
// the batch's single timestamp, two writes of one cell would tie and
// Cassandra would keep the larger value, not the later write.
func WithTimestamp(st Statement, ts int64) (string, error) {
	if st.UsingTimestamp {
		return "", fmt.Errorf("%w: statement already has USING TIMESTAMP", ErrUnsupported)
	}
	buf, err := lexScratch(st.Text)
	defer buf.release()
	if err != nil {
		return "", err
	}
	toks := buf.toks
	d := depths(toks)
	clause := " USING TIMESTAMP " + strconv.FormatInt(ts, 10)
	// After a USING keyword: add the timestamp to its options.
	using := func(i int) string {
		return st.Text[:toks[i].end] + " TIMESTAMP " + strconv.FormatInt(ts, 10) + " AND" + st.Text[toks[i].end:]
	}
	// after the table name that starts at toks[i].
	afterName := func(i int) (string, error) {
		n, ok := readName(toks, i)
		if !ok {
			return "", fmt.Errorf("%w: no table name", ErrSyntax)
		}
		if n.next < len(toks) && toks[n.next].is("USING") {
			return using(n.next), nil
		}
		end := toks[n.next-1].end
		return st.Text[:end] + clause + st.Text[end:], nil
	}
	switch st.Kind {
	case KindInsert:
		for i := range toks {
			if d[i] == 0 && toks[i].is("USING") {
				return using(i), nil
			}
		}
		for i := range toks {
			if d[i] == 0 && toks[i].is("IF") {
				return st.Text[:toks[i].start] + clause[1:] + " " + st.Text[toks[i].start:], nil
			}
		}
		return st.Text + clause, nil
	case KindUpdate:
		return afterName(1)
	case KindDelete:
		for i := 1; i < len(toks); i++ {
			if d[i] == 0 && toks[i].is("FROM") {
				return afterName(i + 1)
			}
		}
		return "", fmt.Errorf("%w: DELETE without FROM", ErrSyntax)
	}
	return "", fmt.Errorf("%w: %s takes no write timestamp", ErrUnsupported, st.Kind)
}
