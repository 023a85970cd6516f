package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
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
	switch {
	case rows.Server != "" && rows.Seq > 0: // the seq the rows reflect
		fmt.Fprintf(w, "(%d %s, %s at seq %d)\n", len(rows.Rows), noun, rows.Server, rows.Seq)
	case rows.Server != "":
		fmt.Fprintf(w, "(%d %s, %s)\n", len(rows.Rows), noun, rows.Server)
	default:
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

// writeStatus prints the leader's view of the cluster: the log's first and
// last seq, the committed seq and the newest snapshot's, then the members
// (with ETA and RESTORE columns only while some member is joining or
// restoring).
func writeStatus(w io.Writer, st messages.Status) {
	snap := "none"
	if st.SnapshotSeq > 0 {
		snap = strconv.FormatUint(st.SnapshotSeq, 10)
	}
	writeTable(w, [][]string{
		{"leader:", st.Leader},
		{"epoch:", strconv.FormatUint(st.Epoch, 10)},
		{"first seq:", strconv.FormatUint(st.FirstSeq, 10)},
		{"last seq:", strconv.FormatUint(st.LastSeq, 10)},
		{"committed:", strconv.FormatUint(st.Committed, 10)},
		{"snapshot seq:", snap},
	})
	fmt.Fprintln(w)
	progress := false
	for _, wk := range st.Workers {
		progress = progress || etaCell(wk) != "-" || wk.Restoring != nil
	}
	writeMembers(w, st.Workers, progress)
}

// writeMembers prints one line per member; with progress, also the ETA of
// joining members and the progress of restores.
func writeMembers(w io.Writer, ws []messages.StatusWorker, progress bool) {
	if len(ws) == 0 {
		fmt.Fprintln(w, "no workers registered")
		return
	}
	head := []string{"WORKER", "STATE", "APPLIED", "LAG", "LAST SEEN"}
	if progress {
		head = append(head, "ETA", "RESTORE")
	}
	lines := [][]string{append(head, "STALLED")}
	for _, wk := range ws {
		line := []string{
			wk.ID, client.MemberState(wk),
			strconv.FormatUint(wk.Applied, 10), strconv.FormatUint(wk.Lag, 10),
			lastSeen(wk.LastSeen),
		}
		if progress {
			line = append(line, etaCell(wk), restoreCell(wk.Restoring))
		}
		lines = append(lines, append(line, wk.Stalled))
	}
	writeTable(w, lines)
}

// lastSeen renders the leader's "how long ago" (a Go duration) as "1.5s
// ago"; anything else as it is.
func lastSeen(s string) string {
	if s == "" {
		return "-"
	}
	if _, err := time.ParseDuration(s); err == nil {
		return s + " ago"
	}
	return s
}

// etaCell is the time a joining member needs to catch up, "-" otherwise.
func etaCell(wk messages.StatusWorker) string {
	if client.MemberState(wk) != messages.StateJoining || wk.ETA == "" {
		return "-"
	}
	return wk.ETA
}

// restoreCell renders a restore in progress as "snapshot 120: 1.5 MiB of
// 4.0 MiB (37%), 5000 rows", or "-".
func restoreCell(r *messages.RestoreProgress) string {
	if r == nil {
		return "-"
	}
	s := fmt.Sprintf("snapshot %d: %s", r.Seq, byteSize(r.Bytes))
	if r.Total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", byteSize(r.Total), min(100, r.Bytes*100/r.Total))
	}
	noun := "rows"
	if r.Rows == 1 {
		noun = "row"
	}
	return s + fmt.Sprintf(", %d %s", r.Rows, noun)
}

// byteSize renders n bytes in binary units: "512 B", "1.5 KiB", "4.0 MiB".
func byteSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}
