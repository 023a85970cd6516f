package cql

import "fmt"

// describeForms is what a DESCRIBE may ask, for error messages.
const describeForms = "Chorus answers DESCRIBE TABLES (the replica's tables) and DESCRIBE TABLE <name> (a table's columns)"

// checkDescribe reads DESCRIBE TABLES and DESCRIBE TABLE [ks.]name (DESC
// and COLUMNFAMILY/COLUMNFAMILIES too) and returns the table's name, "" for
// TABLES. A qualified name must name the replica's own keyspace, as in a
// SELECT. Other DESCRIBE forms (KEYSPACE, SCHEMA, TYPES, CLUSTER, ...)
// would show more than the replica's tables and are unsupported.
func (p *parser) checkDescribe(toks []token) (string, error) {
	switch word(toks, 1) {
	case "TABLES", "COLUMNFAMILIES":
		if len(toks) > 2 {
			return "", fmt.Errorf("%w: DESCRIBE TABLES takes no argument, found %s", ErrSyntax, excerpt(p.text, toks[2].start))
		}
		return "", nil
	case "TABLE", "COLUMNFAMILY":
		name, ok := readName(toks, 2)
		if !ok {
			return "", p.expected(toks, 2, "a table name after DESCRIBE TABLE")
		}
		if name.next < len(toks) {
			return "", fmt.Errorf("%w: DESCRIBE TABLE takes one table name, found %s after it", ErrSyntax, excerpt(p.text, toks[name.next].start))
		}
		if name.ks != nil && (!p.isOwn(*name.ks) || IsSystemKeyspace(ksName(*name.ks))) {
			return "", p.keyspaceError(*name.ks, name.obj, false)
		}
		table := ksName(name.obj)
		p.names = append(p.names, table)
		return table, nil
	case "":
		if len(toks) == 1 {
			return "", fmt.Errorf("%w: DESCRIBE alone; %s", ErrSyntax, describeForms)
		}
	}
	return "", fmt.Errorf("%w: DESCRIBE %s: %s", ErrUnsupported, p.src(toks[1]), describeForms)
}
