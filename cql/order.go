package cql

import (
	"slices"
	"strings"
)

// ApplyOrder says how a write may be reordered against other writes of the
// same log run when a replica applies them concurrently. Under the
// leader's fixed timestamps, Free writes give the same cells in any order
// (INSERT and UPDATE of regular columns, DELETE: last write wins by
// timestamp). Others (list appends and prepends, list element updates,
// anything this check cannot prove free) keep their log order against
// every write of the same Table and Row: list cells are named by the applying
// node's clock, so their order is the order of application.
type ApplyOrder struct {
	Free bool
	// Any: the write keeps its order against every ordered write at all.
	Any bool
	// Table and Row name what an ordered write keeps its order against:
	// the writes of Row, a row named by literals whose equality is exact
	// whatever the column's type, or with Row "" every ordered write of
	// Table.
	Table, Row string
}

// OrderOf classifies a write (an INSERT, UPDATE or DELETE that Parse
// accepted). It errs on the safe side: a write it cannot prove free is
// ordered, and a row it cannot name exactly is its whole table.
func OrderOf(text string) ApplyOrder {
	toks, err := lex(text)
	if err != nil {
		return ApplyOrder{Any: true}
	}
	if n := len(toks); n > 0 && toks[n-1].isPunct(";") {
		toks = toks[:n-1]
	}
	if len(toks) == 0 {
		return ApplyOrder{Any: true}
	}
	var table string
	var ok bool
	switch {
	case toks[0].is("UPDATE"):
		table, ok = tableAt(toks, 1)
	case toks[0].is("DELETE"):
		for i := 1; i < len(toks); i++ {
			if toks[i].is("FROM") {
				table, ok = tableAt(toks, i+1)
				break
			}
		}
	case toks[0].is("INSERT") && len(toks) > 2 && toks[1].is("INTO"):
		table, ok = tableAt(toks, 2)
	}
	if !ok {
		return ApplyOrder{Any: true}
	}
	if free(toks) {
		return ApplyOrder{Free: true}
	}
	if !toks[0].is("INSERT") {
		if row, ok := rowOf(toks); ok {
			return ApplyOrder{Table: table, Row: row}
		}
	}
	return ApplyOrder{Table: table}
}

// tableAt reads the table name at toks[i] ([ks.]table), in the form that
// makes equal names equal: unquoted in lower case, quoted as written.
func tableAt(toks []token, i int) (string, bool) {
	q, ok := readName(toks, i)
	if !ok {
		return "", false
	}
	return nameKey(q.obj), true
}

// nameKey: "id" and id are one name, "Id" another.
func nameKey(t token) string {
	if t.kind == tokQuoted {
		return t.val
	}
	return strings.ToLower(t.val)
}

// free: no list literal or operation ('[', '+', '-'), no bind marker, no
// JSON, no function call or tuple (an INSERT's column and value lists are
// its only parentheses), nothing a list cell could come from.
func free(toks []token) bool {
	insert := toks[0].is("INSERT")
	depth, lists := 0, 0
	for _, t := range toks {
		switch {
		case t.kind == tokPunct && strings.ContainsAny(t.val, "[]+-?:"):
			return false
		case t.is("JSON"):
			return false
		case t.isPunct("("):
			if !insert || depth > 0 {
				return false
			}
			depth++
			lists++
		case t.isPunct(")"):
			depth--
		}
	}
	return lists == 0 || (insert && lists == 2)
}

// rowOf reads a WHERE clause of equalities of columns to literals, joined
// by AND, up to the end or IF, into a canonical form: two writes with
// different forms name different rows whatever the columns' types. Only
// literals whose spelling is their value qualify: integers below 2^53
// (even as a double no two of them are equal), uuids, blobs, booleans.
func rowOf(toks []token) (string, bool) {
	w := -1
	for i, t := range toks {
		if t.is("WHERE") {
			w = i
			break
		}
	}
	if w < 0 {
		return "", false
	}
	var terms []string
	seen := map[string]bool{}
	for i := w + 1; i < len(toks); {
		if i+2 >= len(toks) || !toks[i].isName() || !toks[i+1].isPunct("=") {
			return "", false
		}
		col := nameKey(toks[i])
		lit, ok := literalKey(toks[i+2])
		if !ok || seen[col] {
			return "", false
		}
		seen[col] = true
		terms = append(terms, col+"="+lit)
		i += 3
		if i == len(toks) || toks[i].is("IF") {
			break
		}
		if !toks[i].is("AND") {
			return "", false
		}
		i++
	}
	if len(terms) == 0 {
		return "", false
	}
	slices.Sort(terms)
	return strings.Join(terms, "\x00"), true
}

func literalKey(t token) (string, bool) {
	switch t.kind {
	case tokNumber:
		v := strings.TrimLeft(t.val, "0")
		if len(v) > 15 || strings.Trim(t.val, "0123456789") != "" {
			return "", false
		}
		return "i" + v, true
	case tokUUID:
		return "u" + strings.ToLower(t.val), true
	case tokHex:
		return "x" + strings.ToLower(t.val), true
	case tokIdent:
		if t.is("TRUE") || t.is("FALSE") {
			return "b" + strings.ToLower(t.val), true
		}
	}
	return "", false
}
