package cql

import (
	"fmt"
	"strings"
)

// Statement is one classified CQL statement.
type Statement struct {
	// Text is the statement without surrounding whitespace and comments and
	// with at most one trailing ';' removed. Trailing comments are dropped
	// so that text appended by a caller can never end up inside a comment.
	Text string
	// Kind is the class of the statement.
	Kind Kind
	// Conditional reports an IF clause (a lightweight transaction: IF
	// EXISTS, IF NOT EXISTS, IF <condition>) on an INSERT, UPDATE or DELETE,
	// or on any statement inside a BATCH. DDL's IF [NOT] EXISTS is not one.
	Conditional bool
	// UsingTimestamp reports a USING TIMESTAMP clause, on the statement, on
	// the BATCH, or on any statement inside the BATCH.
	UsingTimestamp bool
	// BatchType is "LOGGED" (also for plain BEGIN BATCH), "UNLOGGED" or
	// "COUNTER" for a BATCH, and "" otherwise.
	BatchType string
	// ApplyOffset is, for a BATCH, the byte offset in Text where the final
	// APPLY BATCH starts, so a caller can splice statements in before it;
	// -1 otherwise.
	ApplyOffset int
	// Names are the table names a SELECT or DML statement (or each
	// statement of a BATCH) reads or writes, and for schema statements
	// every name they mention; unquoted names in lower case. Callers use it
	// to keep clients off tables of their own.
	Names []string
	// DescribeTable is, for DESCRIBE TABLE <name>, the table's name
	// (unquoted in lower case, quoted as written); "" for DESCRIBE TABLES
	// and every other kind.
	DescribeTable string
	// Nondeterministic reports calls of the functions whose value differs
	// from call to call (now(), uuid(), currentTimestamp() and kin): the
	// leader's Rewrite replaces them. Without them Rewrite leaves Text as
	// it is.
	Nondeterministic bool

	// lexed is the Text Parse saw, and nowErr what Rewrite's check of
	// 'now' strings says about it: so Rewrite of a statement without
	// Nondeterministic calls needs no second lexing. Used only while Text
	// is still lexed.
	lexed  string
	nowErr error
}

// supported lists the statements Chorus runs, for error messages.
const supported = "Chorus supports SELECT, INSERT, UPDATE, DELETE, BATCH, TRUNCATE, " +
	"CREATE, ALTER and DROP of TABLE, TYPE and INDEX, and DESCRIBE TABLES and DESCRIBE TABLE <name>"

// systemKeyspaces are Cassandra's own keyspaces (5.0, plus the two that
// later versions add), which no statement may name.
var systemKeyspaces = []string{
	"system", "system_schema", "system_auth", "system_distributed",
	"system_traces", "system_views", "system_virtual_schema",
	"system_cluster_metadata", "system_accord",
}

// IsSystemKeyspace reports whether name is one of Cassandra's system
// keyspaces. The comparison ignores case: rejecting a quoted "SYSTEM",
// which cannot exist, is harmless, and missing an unquoted System is not.
func IsSystemKeyspace(name string) bool {
	for _, s := range systemKeyspaces {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// Parse classifies one statement and enforces isolation (DESIGN invariant 4)
// for a replica whose keyspace is keyspace.
//
// The rules: a write (every kind but SELECT) must not name any keyspace,
// since every replica applies it to its own; this covers table, type and
// index names, user types in type hints, and function names other than
// Cassandra's native system.f. A SELECT may name keyspace (unquoted names
// compare without case, quoted ones exactly) and native system.f
// functions, but no other keyspace. System keyspaces are always rejected.
// USE, keyspace DDL and statements other than the Kinds are unsupported.
//
// Parse does not validate CQL beyond what these checks need: a statement
// it accepts may still be refused by Cassandra, identically on every
// replica.
func Parse(text, keyspace string) (Statement, error) { return parse(text, keyspace, true) }

// Classify is Parse for a caller that wants only what the statement is
// (Kind, Names, ...), like the change feed: its Rewrite lexes Text again.
func Classify(text, keyspace string) (Statement, error) { return parse(text, keyspace, false) }

// parse is Parse; keep says whether to prepare Statement.Rewrite.
func parse(text, keyspace string, keep bool) (Statement, error) {
	buf, err := lexScratch(text)
	defer buf.release()
	if err != nil {
		return Statement{}, err
	}
	toks := buf.toks
	if n := len(toks); n > 0 && toks[n-1].isPunct(";") {
		toks = toks[:n-1]
	}
	if len(toks) == 0 {
		return Statement{}, fmt.Errorf("%w: the request holds no CQL statement, only whitespace, comments or ';'", ErrEmpty)
	}
	p := &parser{text: text, keyspace: keyspace, buf: buf}
	if err := p.single(toks); err != nil {
		return Statement{}, err
	}
	kind, batchType, err := p.classify(toks)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{
		Text:        text[toks[0].start:toks[len(toks)-1].end],
		Kind:        kind,
		BatchType:   batchType,
		ApplyOffset: -1,
	}
	switch {
	case kind == KindSelect:
		err = p.checkSelect(toks)
	case kind == KindDescribe:
		st.DescribeTable, err = p.checkDescribe(toks)
	case kind == KindBatch:
		err = p.checkBatch(toks, &st)
	case kind.IsSchema():
		err = p.checkSchema(toks)
	default:
		st.Conditional, st.UsingTimestamp, err = p.checkDML(toks, p.depths(toks), kind)
	}
	if err != nil {
		return Statement{}, err
	}
	st.Names = p.names
	st.Nondeterministic = hasCalls(toks)
	if !keep {
		return st, nil
	}
	// Rewrite's check, on the tokens moved to Text's offsets (its errors
	// name byte offsets in Text): Text starts at the first token, and
	// lexing Text alone gives these very tokens.
	off := toks[0].start
	for i := range toks {
		toks[i].start -= off
		toks[i].end -= off
	}
	st.lexed, st.nowErr = st.Text, checkNowStrings(st.Text, toks)
	return st, nil
}

// parser holds what the checks share.
type parser struct {
	text     string
	keyspace string
	names    []string // see Statement.Names
	buf      *tokBuf  // the statement's tokens, and their depths once computed
}

// depths returns the bracket depths of toks, the statement's tokens,
// computing them once.
func (p *parser) depths(toks []token) []int {
	if len(p.buf.d) != len(toks) {
		p.buf.d = appendDepths(p.buf.d[:0], toks)
	}
	return p.buf.d
}

// src returns the original spelling of a token.
func (p *parser) src(t token) string { return p.text[t.start:t.end] }

// single fails with ErrMultiple if toks hold more than one statement. A
// BATCH may contain ';' between its statements, up to APPLY BATCH.
func (p *parser) single(toks []token) error {
	from := 0
	if toks[0].is("BEGIN") {
		d := p.depths(toks)
		for i := 1; i+1 < len(toks); i++ {
			if d[i] == 0 && toks[i].is("APPLY") && toks[i+1].is("BATCH") {
				if i+2 < len(toks) {
					return fmt.Errorf("%w: more text follows APPLY BATCH at byte %d (%s); send one statement per request",
						ErrMultiple, toks[i+2].start, excerpt(p.text, toks[i+2].start))
				}
				return nil
			}
		}
		// No APPLY BATCH: checkBatch reports it, unless a ';' shows a
		// second statement that is not a BATCH.
		from = len(toks)
	}
	for _, t := range toks[from:] {
		if t.isPunct(";") {
			return fmt.Errorf("%w: the ';' at byte %d ends the statement but more text follows; send one statement per request, and group writes that belong together in BEGIN BATCH ... APPLY BATCH",
				ErrMultiple, t.start)
		}
	}
	return nil
}

// word returns the upper-cased keyword at i, or "" if there is none.
func word(toks []token, i int) string {
	if i < len(toks) && toks[i].kind == tokIdent {
		return strings.ToUpper(toks[i].val)
	}
	return ""
}

// classify finds the statement's Kind from its leading keywords.
func (p *parser) classify(toks []token) (Kind, string, error) {
	// The commonest statements first, without upper-casing a table name.
	switch t := toks[0]; {
	case t.is("UPDATE"):
		return KindUpdate, "", nil
	case t.is("INSERT"):
		if word(toks, 1) != "INTO" {
			return 0, "", p.expected(toks, 1, "INTO after INSERT")
		}
		return KindInsert, "", nil
	case t.is("SELECT"):
		return KindSelect, "", nil
	case t.is("DELETE"):
		return KindDelete, "", nil
	}
	w0, w1 := word(toks, 0), word(toks, 1)
	switch w0 {
	case "TRUNCATE":
		return KindTruncate, "", nil
	case "BEGIN":
		switch {
		case w1 == "BATCH":
			return KindBatch, "LOGGED", nil
		case (w1 == "UNLOGGED" || w1 == "COUNTER") && word(toks, 2) == "BATCH":
			return KindBatch, w1, nil
		}
		return 0, "", p.expected(toks, 1, "BATCH, UNLOGGED BATCH or COUNTER BATCH after BEGIN")
	case "CREATE", "ALTER", "DROP":
		return p.classifyDDL(toks, w0)
	case "USE":
		return 0, "", fmt.Errorf("%w: USE: Chorus manages keyspaces itself and runs every statement in the replica's own keyspace; leave out USE and use unqualified table names", ErrUnsupported)
	case "DESCRIBE", "DESC":
		return KindDescribe, "", nil
	case "GRANT", "REVOKE", "LIST":
		return 0, "", unsupported(w0)
	case "ADD":
		if w1 == "IDENTITY" {
			return 0, "", unsupported("ADD IDENTITY")
		}
	}
	if !toks[0].isName() {
		return 0, "", fmt.Errorf("%w: a statement starts with a keyword such as SELECT or INSERT, not %s; %s", ErrSyntax, excerpt(p.text, toks[0].start), supported)
	}
	return 0, "", fmt.Errorf("%w: unknown statement %s; %s", ErrSyntax, p.src(toks[0]), supported)
}

// classifyDDL classifies CREATE, ALTER and DROP statements.
func (p *parser) classifyDDL(toks []token, verb string) (Kind, string, error) {
	obj := word(toks, 1)
	switch obj {
	case "COLUMNFAMILY":
		obj = "TABLE"
	case "SCHEMA":
		obj = "KEYSPACE"
	case "CUSTOM":
		if verb == "CREATE" && word(toks, 2) == "INDEX" {
			obj = "INDEX"
		}
	case "MATERIALIZED":
		return 0, "", unsupported(verb + " MATERIALIZED VIEW")
	case "OR":
		if verb == "CREATE" && word(toks, 2) == "REPLACE" {
			return 0, "", unsupported("CREATE OR REPLACE " + word(toks, 3))
		}
	}
	if k, ok := ddlKinds[verb][obj]; ok {
		return k, "", nil
	}
	switch obj {
	case "KEYSPACE":
		return 0, "", fmt.Errorf("%w: %s KEYSPACE: Chorus manages keyspaces itself (each replica owns one and runs every statement in it); use unqualified table names in your own statements", ErrUnsupported, verb)
	case "FUNCTION", "AGGREGATE", "TRIGGER", "ROLE", "USER", "IDENTITY":
		return 0, "", unsupported(verb + " " + obj)
	}
	objs := "TABLE, TYPE or INDEX"
	if verb == "ALTER" {
		objs = "TABLE or TYPE"
	}
	return 0, "", p.expected(toks, 1, objs+" after "+verb)
}

// ddlKinds are the DDL kinds by verb and object.
var ddlKinds = map[string]map[string]Kind{
	"CREATE": {"TABLE": KindCreateTable, "TYPE": KindCreateType, "INDEX": KindCreateIndex},
	"ALTER":  {"TABLE": KindAlterTable, "TYPE": KindAlterType},
	"DROP":   {"TABLE": KindDropTable, "TYPE": KindDropType, "INDEX": KindDropIndex},
}

// unsupported is the error for a statement kind Chorus does not run.
func unsupported(what string) error {
	return fmt.Errorf("%w: Chorus does not run %s statements; %s", ErrUnsupported, strings.TrimSpace(what), supported)
}

// expected is the ErrSyntax for a missing or wrong token at i.
func (p *parser) expected(toks []token, i int, what string) error {
	if i >= len(toks) {
		return fmt.Errorf("%w: expected %s, but the statement ends", ErrSyntax, what)
	}
	return fmt.Errorf("%w: expected %s, found %s at byte %d", ErrSyntax, what, excerpt(p.text, toks[i].start), toks[i].start)
}

// depths returns the bracket nesting depth ((, [ and {) of every token; a
// closing bracket has the depth of its opening one.
func depths(toks []token) []int { return appendDepths(make([]int, 0, len(toks)), toks) }

// appendDepths is depths appending to d.
func appendDepths(d []int, toks []token) []int {
	cur := 0
	for _, t := range toks {
		if t.kind == tokPunct && (t.val == ")" || t.val == "]" || t.val == "}") && cur > 0 {
			cur--
		}
		d = append(d, cur)
		if t.kind == tokPunct && (t.val == "(" || t.val == "[" || t.val == "{") {
			cur++
		}
	}
	return d
}

// qname is a possibly keyspace-qualified name in toks.
type qname struct {
	ks   *token // nil when unqualified
	obj  token
	at   int // index of the first token of the name
	next int // index past the name
}

// readName reads a name ([ks.]obj) starting at toks[i].
func readName(toks []token, i int) (qname, bool) {
	if i >= len(toks) || !toks[i].isName() {
		return qname{}, false
	}
	if isDotted(toks, i) {
		return qname{ks: &toks[i], obj: toks[i+2], at: i, next: i + 3}, true
	}
	return qname{obj: toks[i], at: i, next: i + 1}, true
}

// isDotted reports whether toks[i:] starts with name '.' name.
func isDotted(toks []token, i int) bool {
	return i+2 < len(toks) && toks[i].isName() && toks[i+1].isPunct(".") && toks[i+2].isName()
}

// isCall reports whether toks[i] is followed by '(' (a function call).
func isCall(toks []token, i int) bool {
	return i+1 < len(toks) && toks[i+1].isPunct("(")
}

// ksName is the keyspace a name token refers to: Cassandra folds unquoted
// names to lower case.
func ksName(t token) string {
	if t.kind == tokQuoted {
		return t.val
	}
	return strings.ToLower(t.val)
}

// isSystemQualifier reports whether t is "system", the keyspace of
// Cassandra's native functions (system.now() is the same as now()).
func isSystemQualifier(t token) bool {
	if t.kind == tokQuoted {
		return t.val == "system"
	}
	return t.is("SYSTEM")
}

// isOwn reports whether t names the replica's keyspace.
func (p *parser) isOwn(t token) bool {
	if t.kind == tokQuoted {
		return t.val == p.keyspace
	}
	return strings.EqualFold(t.val, p.keyspace)
}

// keyspaceError explains why the keyspace ks, qualifying obj, may not be
// named. write selects the explanation for writes.
func (p *parser) keyspaceError(ks, obj token, write bool) error {
	name := ksName(ks)
	qualified := p.src(ks) + "." + p.src(obj)
	switch {
	case IsSystemKeyspace(name):
		return fmt.Errorf("%w %q: system keyspaces are not available through Chorus, which runs every statement in the replica's own keyspace (found %s)", ErrKeyspace, name, qualified)
	case write:
		return fmt.Errorf("%w %q: Chorus applies every write to each replica's own keyspace, so a write must use unqualified names; write %s instead of %s", ErrKeyspace, name, p.src(obj), qualified)
	default:
		return fmt.Errorf("%w %q: Chorus runs every statement in the replica's own keyspace (%q); remove the keyspace qualifier from %s", ErrKeyspace, name, p.keyspace, qualified)
	}
}

// functionError explains why the function ks.fn may not be called.
func (p *parser) functionError(ks, fn token, write bool) error {
	name := ksName(ks)
	qualified := p.src(ks) + "." + p.src(fn)
	if write {
		return fmt.Errorf("%w %q: Chorus applies every write to each replica's own keyspace, so a write may call only unqualified or system. functions, not %s", ErrKeyspace, name, qualified)
	}
	return fmt.Errorf("%w %q: Chorus runs every statement in the replica's own keyspace (%q), so %s is not available; call the function without a keyspace", ErrKeyspace, name, p.keyspace, qualified)
}

// checkSelect allows a SELECT to name only its own keyspace: in the table
// name after FROM and in function names. Other dotted names in a SELECT are
// user-type fields (SELECT addr.city) or type hints, which read no data.
func (p *parser) checkSelect(toks []token) error {
	d := p.depths(toks)
	from := -1
	for i := 1; i < len(toks); i++ {
		if d[i] == 0 && toks[i].is("FROM") {
			from = i
			break
		}
	}
	if from < 0 {
		return p.expected(toks, len(toks), "FROM and a table name in the SELECT")
	}
	table, ok := readName(toks, from+1)
	if !ok {
		return p.expected(toks, from+1, "a table name after FROM")
	}
	p.names = append(p.names, ksName(table.obj))
	if table.ks != nil && (!p.isOwn(*table.ks) || IsSystemKeyspace(ksName(*table.ks))) {
		return p.keyspaceError(*table.ks, table.obj, false)
	}
	for i := range toks {
		if i == table.at || !isDotted(toks, i) || !isCall(toks, i+2) {
			continue
		}
		ks := toks[i]
		if isSystemQualifier(ks) {
			continue
		}
		if !p.isOwn(ks) || IsSystemKeyspace(ksName(ks)) {
			return p.functionError(ks, toks[i+2], false)
		}
	}
	return nil
}

// checkSchema rejects any keyspace qualifier in TRUNCATE and in DDL for
// tables, types and indexes. These statements have no user-type field
// access, so every dotted name is a qualified table, type or index name
// (CREATE INDEX ON ks.t, frozen<ks.udt>, DROP INDEX ks.i), or a function.
func (p *parser) checkSchema(toks []token) error {
	for _, t := range toks {
		if t.kind == tokQuoted || t.kind == tokIdent {
			p.names = append(p.names, ksName(t))
		}
	}
	for i := range toks {
		if !isDotted(toks, i) {
			continue
		}
		if isCall(toks, i+2) {
			if !isSystemQualifier(toks[i]) {
				return p.functionError(toks[i], toks[i+2], true)
			}
			continue
		}
		return p.keyspaceError(toks[i], toks[i+2], true)
	}
	return nil
}

// checkDML checks one INSERT, UPDATE or DELETE (alone or inside a BATCH)
// and reports whether it has an IF clause and a USING TIMESTAMP. d are the
// bracket depths of toks (statements in a BATCH are at depth 0).
func (p *parser) checkDML(toks []token, d []int, kind Kind) (conditional, usingTimestamp bool, err error) {
	var table qname
	var ok bool
	switch kind {
	case KindInsert: // INSERT INTO name
		if table, ok = readName(toks, 2); !ok {
			return false, false, p.expected(toks, 2, "a table name after INSERT INTO")
		}
	case KindUpdate: // UPDATE name
		if table, ok = readName(toks, 1); !ok {
			return false, false, p.expected(toks, 1, "a table name after UPDATE")
		}
	case KindDelete: // DELETE [selection] FROM name
		from := -1
		for i := 1; i < len(toks); i++ {
			if d[i] == 0 && toks[i].is("FROM") {
				from = i
				break
			}
		}
		if from < 0 {
			return false, false, p.expected(toks, len(toks), "FROM and a table name in the DELETE")
		}
		if table, ok = readName(toks, from+1); !ok {
			return false, false, p.expected(toks, from+1, "a table name after FROM")
		}
	}
	if table.ks != nil {
		return false, false, p.keyspaceError(*table.ks, table.obj, true)
	}
	p.names = append(p.names, ksName(table.obj))
	for i := range toks {
		if i == table.at || !isDotted(toks, i) {
			continue
		}
		if isCall(toks, i+2) {
			if !isSystemQualifier(toks[i]) {
				return false, false, p.functionError(toks[i], toks[i+2], true)
			}
			continue
		}
		// Outside brackets, UPDATE and DELETE name user-type fields
		// (SET addr.city = ..., DELETE addr.city FROM, IF addr.city = ...).
		// Inside brackets, or anywhere in an INSERT, a dotted name can
		// only be a qualified user type, as in a type hint (ks.udt){...}.
		if kind != KindInsert && d[i] == 0 {
			continue
		}
		return false, false, p.keyspaceError(toks[i], toks[i+2], true)
	}
	for i, t := range toks {
		if d[i] != 0 {
			continue
		}
		switch {
		case t.is("IF"): // IF is reserved: outside brackets it starts the condition
			conditional = true
		case t.is("USING"):
			ts, _, _ := usingClause(toks, i)
			usingTimestamp = usingTimestamp || ts
		}
	}
	return conditional, usingTimestamp, nil
}

// usingClause reads USING TTL v [AND TIMESTAMP v] (in any order) at
// toks[i], reporting whether it sets TIMESTAMP, the index of a TTL given
// as a plain number (-1: none; not a bind marker, not negative) and the
// index past it. TIMESTAMP is not reserved (a column may be called
// timestamp), so only the words of the clause count.
func usingClause(toks []token, i int) (timestamp bool, ttl, next int) {
	ttl = -1
	j := i + 1
	for j < len(toks) {
		isTTL := false
		switch {
		case toks[j].is("TIMESTAMP"):
			timestamp = true
		case toks[j].is("TTL"):
			isTTL = true
		default:
			return timestamp, ttl, j
		}
		j++ // the value: a number (the lexer splits off a '-'), ? or :name
		if j < len(toks) && (toks[j].isPunct(":") || toks[j].isPunct("-")) {
			j++
		} else if isTTL && j < len(toks) && toks[j].kind == tokNumber {
			ttl = j
		}
		j++
		if j < len(toks) && toks[j].is("AND") {
			j++
			continue
		}
		return timestamp, ttl, min(j, len(toks))
	}
	return timestamp, ttl, min(j, len(toks))
}

// checkBatch checks BEGIN [UNLOGGED|COUNTER] BATCH [USING ...] stmt [;] ...
// APPLY BATCH and every statement in it.
func (p *parser) checkBatch(toks []token, st *Statement) error {
	d := p.depths(toks)
	i := 2 // past BEGIN BATCH
	if !toks[1].is("BATCH") {
		i = 3 // past BEGIN UNLOGGED|COUNTER BATCH
	}
	apply := -1
	for j := i; j+1 < len(toks); j++ {
		if d[j] == 0 && toks[j].is("APPLY") && toks[j+1].is("BATCH") {
			apply = j
			break
		}
	}
	if apply < 0 || apply+2 != len(toks) {
		return p.expected(toks, len(toks), "APPLY BATCH at the end of the BATCH")
	}
	st.ApplyOffset = toks[apply].start - toks[0].start
	if i < apply && toks[i].is("USING") {
		ts, _, next := usingClause(toks, i)
		st.UsingTimestamp = ts
		i = min(next, apply)
	}
	isStart := func(t token) bool { return t.is("INSERT") || t.is("UPDATE") || t.is("DELETE") }
	for i < apply {
		if !isStart(toks[i]) {
			return fmt.Errorf("%w: a BATCH holds only INSERT, UPDATE and DELETE statements; found %s at byte %d",
				ErrSyntax, excerpt(p.text, toks[i].start), toks[i].start)
		}
		// INSERT, UPDATE and DELETE are reserved words, so outside
		// brackets they can only start the next statement; ';' is optional.
		j := i + 1
		for j < apply && !(d[j] == 0 && (toks[j].isPunct(";") || isStart(toks[j]))) {
			j++
		}
		sub := toks[i:j]
		kind := KindDelete
		switch {
		case sub[0].is("INSERT"):
			kind = KindInsert
		case sub[0].is("UPDATE"):
			kind = KindUpdate
		}
		if kind == KindInsert && word(sub, 1) != "INTO" {
			return p.expected(sub, 1, "INTO after INSERT")
		}
		// Depths afresh: a malformed BATCH can leave a bracket open before
		// a statement, which must be read as if it stood alone.
		cond, ts, err := p.checkDML(sub, depths(sub), kind)
		if err != nil {
			return err
		}
		st.Conditional = st.Conditional || cond
		st.UsingTimestamp = st.UsingTimestamp || ts
		if j < apply && toks[j].isPunct(";") {
			j++
		}
		i = j
	}
	return nil
}
