package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// writeRows prints rows as a table aligned on columns, in the order of
// rows.Columns, then a "(N rows, server)" footer.
func writeRows(w io.Writer, rows *client.Rows) {
	cols := rows.Columns
	if len(cols) == 0 { // a reply without column names: the keys, sorted
		seen := map[string]bool{}
		for _, r := range rows.Rows {
			for k := range r {
				if !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
		sort.Strings(cols)
	}
	table := make([][]string, 0, len(rows.Rows)+1)
	table = append(table, cols)
	for _, r := range rows.Rows {
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = cell(r[c])
		}
		table = append(table, line)
	}
	if len(cols) > 0 {
		writeTable(w, table)
	}
	noun := "rows"
	if len(rows.Rows) == 1 {
		noun = "row"
	}
	if rows.Server != "" {
		fmt.Fprintf(w, "(%d %s, %s)\n", len(rows.Rows), noun, rows.Server)
	} else {
		fmt.Fprintf(w, "(%d %s)\n", len(rows.Rows), noun)
	}
}

// cell renders one value of a row on one line.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return strconv.Quote(v)
		}
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default: // lists, sets, maps, UDTs, tuples: compact JSON
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// writeTable prints lines with every column padded to its widest cell and
// two spaces between columns; the last column is not padded.
func writeTable(w io.Writer, lines [][]string) {
	var widths []int
	for _, l := range lines {
		for i, c := range l {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.Reset()
		for i, c := range l {
			b.WriteString(c)
			if i < len(l)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// writeStatus prints the leader's view of the cluster.
func writeStatus(w io.Writer, st messages.Status) {
	writeTable(w, [][]string{
		{"leader:", st.Leader},
		{"epoch:", strconv.FormatUint(st.Epoch, 10)},
		{"last seq:", strconv.FormatUint(st.LastSeq, 10)},
		{"committed:", strconv.FormatUint(st.Committed, 10)},
	})
	fmt.Fprintln(w)
	if len(st.Workers) == 0 {
		fmt.Fprintln(w, "no workers registered")
		return
	}
	lines := [][]string{{"WORKER", "STATE", "APPLIED", "LAG", "LAST SEEN", "STALLED"}}
	for _, wk := range st.Workers {
		state := "out"
		if wk.Live {
			state = "live"
		}
		seen := wk.LastSeen
		if seen == "" {
			seen = "-"
		}
		lines = append(lines, []string{
			wk.ID, state,
			strconv.FormatUint(wk.Applied, 10), strconv.FormatUint(wk.Lag, 10),
			seen, wk.Stalled,
		})
	}
	writeTable(w, lines)
}
