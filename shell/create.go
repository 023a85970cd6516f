package shell

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// Column is one row of a DESCRIBE TABLE reply.
type Column struct {
	Name            string
	Type            string
	Kind            string // partition_key, clustering, static, regular
	Position        int
	ClusteringOrder string // asc, desc, none
}

// CreateTable rebuilds the CREATE TABLE statement of a table from its
// columns: the columns, the primary key, and the clustering order when a
// column sorts descending. Table options (compaction, TTL, ...) are not in
// a DESCRIBE TABLE reply and are left out.
func CreateTable(table string, cols []Column) string {
	rank := map[string]int{"partition_key": 0, "clustering": 1, "static": 2, "regular": 3}
	cols = slices.Clone(cols)
	slices.SortStableFunc(cols, func(a, b Column) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), cmp.Compare(a.Position, b.Position))
	})
	var b strings.Builder
	b.WriteString("CREATE TABLE " + quoteName(table) + " (\n")
	var part, clust, order []string
	desc := false
	for _, c := range cols {
		b.WriteString("    " + quoteName(c.Name) + " " + c.Type)
		if c.Kind == "static" {
			b.WriteString(" STATIC")
		}
		b.WriteString(",\n")
		switch c.Kind {
		case "partition_key":
			part = append(part, quoteName(c.Name))
		case "clustering":
			clust = append(clust, quoteName(c.Name))
			order = append(order, quoteName(c.Name)+" "+strings.ToUpper(c.ClusteringOrder))
			desc = desc || strings.EqualFold(c.ClusteringOrder, "desc")
		}
	}
	key := strings.Join(part, ", ")
	if len(part) > 1 {
		key = "(" + key + ")"
	}
	if len(clust) > 0 {
		key += ", " + strings.Join(clust, ", ")
	}
	b.WriteString("    PRIMARY KEY (" + key + ")\n)")
	if desc {
		b.WriteString(" WITH CLUSTERING ORDER BY (" + strings.Join(order, ", ") + ")")
	}
	b.WriteString(";")
	return b.String()
}

var plainName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// quoteName writes a name as CQL reads it back: lower-case names as they
// are, any other in double quotes.
func quoteName(n string) string {
	if plainName.MatchString(n) {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}
