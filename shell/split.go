package shell

import "strings"

// scanMode is where the splitter is inside the text: plain CQL, or inside
// a literal, quoted name or comment, where ';' does not end a statement.
type scanMode uint8

const (
	plain        scanMode = iota
	inString              // '...', '' escapes a quote
	inName                // "...", "" escapes a quote
	inDollar              // $$...$$
	inBlock               // /* ... */ (CQL's do not nest)
	inLineRemark          // -- or // to the end of the line
)

// Splitter collects lines as they are typed into complete statements, each
// ended by a ';' outside string literals, quoted names, $$ blocks and
// comments, as CQL's lexer reads them. A BATCH holds ';' between its
// statements, so a statement that begins with BEGIN ends only at the ';'
// after APPLY BATCH. Comments are left out of the statements (each becomes
// a space): they mean nothing to Cassandra, and a statement recalled from
// history on one line must not end up inside a '--' comment.
//
// The zero Splitter is ready to use.
type Splitter struct {
	cur   strings.Builder // the pending statement, without comments
	mode  scanMode
	first string    // the statement's first token, upper-cased
	last  [2]string // its last two tokens, upper-cased
	sig   bool      // the pending statement has a token
}

// Feed adds one line (without its newline) and returns the statements it
// completed, without their ';' and surrounding space. Empty statements
// (a ';' alone) are skipped.
func (s *Splitter) Feed(line string) []string {
	var out []string
	text := line + "\n" // every lookahead below stays inside the line
	for i := 0; i < len(text); i++ {
		c := text[i]
		two := i+1 < len(text) && text[i+1] == c
		switch s.mode {
		case inString, inName:
			s.cur.WriteByte(c)
			quote := byte('\'')
			if s.mode == inName {
				quote = '"'
			}
			if c == quote {
				if two {
					s.cur.WriteByte(c)
					i++
				} else {
					s.mode = plain
				}
			}
			continue
		case inDollar:
			s.cur.WriteByte(c)
			if c == '$' && two {
				s.cur.WriteByte(c)
				i++
				s.mode = plain
			}
			continue
		case inBlock:
			if c == '*' && text[i+1] == '/' {
				i++
				s.mode = plain
			}
			continue
		case inLineRemark:
			if c == '\n' {
				s.cur.WriteByte(c)
				s.mode = plain
			}
			continue
		}
		switch {
		case c == '\'' || c == '"':
			s.token("'")
			s.cur.WriteByte(c)
			s.mode = inString
			if c == '"' {
				s.mode = inName
			}
		case c == '$' && two:
			s.token("$$")
			s.cur.WriteString("$$")
			i++
			s.mode = inDollar
		case (c == '-' && two) || (c == '/' && two):
			s.cur.WriteByte(' ')
			i++
			s.mode = inLineRemark
		case c == '/' && text[i+1] == '*':
			s.cur.WriteByte(' ')
			i++
			s.mode = inBlock
		case c == ';' && !s.inBatch():
			if stmt := strings.TrimSpace(s.cur.String()); s.sig && stmt != "" {
				out = append(out, stmt)
			}
			s.Reset()
		case isWordStart(c):
			j := i + 1
			for j < len(text) && isWordPart(text[j]) {
				j++
			}
			s.token(strings.ToUpper(text[i:j]))
			s.cur.WriteString(text[i:j])
			i = j - 1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.cur.WriteByte(c)
		default:
			s.token(string(c))
			s.cur.WriteByte(c)
		}
	}
	return out
}

// Pending reports whether a statement has begun but not ended: the shell
// then prompts for a continuation line.
func (s *Splitter) Pending() bool { return s.sig || s.mode == inBlock }

// Reset drops the pending statement (Ctrl-C while typing).
func (s *Splitter) Reset() { *s = Splitter{} }

// token records a token of the pending statement.
func (s *Splitter) token(t string) {
	if !s.sig {
		s.first, s.sig = t, true
	}
	s.last = [2]string{s.last[1], t}
}

// inBatch reports whether a ';' is inside a BEGIN ... BATCH, before its
// APPLY BATCH.
func (s *Splitter) inBatch() bool {
	return s.first == "BEGIN" && s.last != [2]string{"APPLY", "BATCH"}
}

func isWordStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isWordPart(c byte) bool  { return isWordStart(c) || '0' <= c && c <= '9' }
