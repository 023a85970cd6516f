package cql

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// tokenKind is the lexical class of a token.
type tokenKind int

const (
	tokIdent  tokenKind = iota + 1 // unquoted identifier or keyword; case-insensitive
	tokQuoted                      // "quoted identifier"; case-sensitive, val is unescaped
	tokString                      // '...' or $$...$$; val is the unescaped content
	tokNumber                      // integer, float or duration (1h30m)
	tokHex                         // blob literal 0x...
	tokUUID                        // uuid or timeuuid literal
	tokPunct                       // operator or punctuation; val is the symbol
)

// token is one lexical token. start and end are byte offsets into the
// lexed text, so callers can splice the original text around a token.
type token struct {
	kind       tokenKind
	start, end int
	val        string
}

// is reports whether t is the unquoted keyword kw (given in upper case).
// Quoted identifiers never match: "SELECT" is a name, not a keyword.
func (t token) is(kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.val, kw)
}

// isPunct reports whether t is the punctuation p.
func (t token) isPunct(p string) bool {
	return t.kind == tokPunct && t.val == p
}

// isName reports whether t can be a keyspace, table, type, index, column or
// function name: an identifier or a quoted identifier.
func (t token) isName() bool {
	return t.kind == tokIdent || t.kind == tokQuoted
}

// twoCharPunct are the operators of two bytes; they are tried before the
// single-byte punctuation so that "<=" is one token.
var twoCharPunct = []string{"<=", ">=", "!=", "+=", "-="}

// oneCharPunct is every single-byte punctuation CQL uses.
const oneCharPunct = "()[]{},;.=<>+-*/%:?"

// lex splits text into tokens, dropping whitespace and comments. It fails
// with ErrSyntax on an unterminated string, quoted identifier or comment and
// on a byte that cannot start any CQL token; it never panics.
func lex(text string) ([]token, error) { return lexInto(nil, text) }

// scratch lends token buffers to the lexings whose tokens do not outlive
// the call: every write is lexed on its way through, and a growing token
// slice per lexing was the write path's largest source of garbage.
var scratch = sync.Pool{New: func() any { return &tokBuf{toks: make([]token, 0, 64)} }}

// maxScratch is the most tokens a buffer returned to the pool holds: one
// huge statement must not pin its tokens' memory for good.
const maxScratch = 4096

// tokBuf is a lexing's tokens in a pooled buffer, with room for their
// bracket depths.
type tokBuf struct {
	toks []token
	d    []int
}

// lexScratch lexes text into a pooled buffer. release gives it back once
// the tokens (not the strings they hold, which are text's or their own)
// are no longer used.
func lexScratch(text string) (*tokBuf, error) {
	b := scratch.Get().(*tokBuf)
	var err error
	b.toks, err = lexInto(b.toks[:0], text)
	return b, err
}

// release returns b to the pool; nil is a no-op.
func (b *tokBuf) release() {
	if b == nil || cap(b.toks) > maxScratch {
		return
	}
	clear(b.toks) // the tokens' strings: a pooled buffer must not keep texts alive
	b.toks, b.d = b.toks[:0], b.d[:0]
	scratch.Put(b)
}

// lexInto is lex appending to toks. On an error it returns the tokens read
// so far with it (so a pooled buffer is cleared of them too).
func lexInto(toks []token, text string) ([]token, error) {
	n := len(text)
	i := 0
	for i < n {
		c := text[i]
		var next byte
		if i+1 < n {
			next = text[i+1]
		}
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++

		case (c == '-' && next == '-') || (c == '/' && next == '/'):
			// A line comment runs to the end of the line (or of the text).
			i += 2
			for i < n && text[i] != '\n' && text[i] != '\r' {
				i++
			}

		case c == '/' && next == '*':
			// Block comments do not nest in CQL: the first */ ends them.
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return toks, fmt.Errorf("%w: unterminated comment: the /* at byte %d has no closing */", ErrSyntax, start)
			}
			i += 2 + end + 2

		case c == '\'':
			val, end, ok := scanDoubled(text, i, '\'')
			if !ok {
				return toks, fmt.Errorf("%w: unterminated string: the ' at byte %d (%s) has no closing ' (write a quote inside a string as '')", ErrSyntax, start, excerpt(text, start))
			}
			toks = append(toks, token{tokString, start, end, val})
			i = end

		case c == '$' && next == '$':
			end := strings.Index(text[i+2:], "$$")
			if end < 0 {
				return toks, fmt.Errorf("%w: unterminated string: the $$ at byte %d (%s) has no closing $$", ErrSyntax, start, excerpt(text, start))
			}
			i += 2 + end + 2
			toks = append(toks, token{tokString, start, i, text[start+2 : i-2]})

		case c == '"':
			val, end, ok := scanDoubled(text, i, '"')
			if !ok {
				return toks, fmt.Errorf("%w: unterminated quoted name: the \" at byte %d (%s) has no closing \" (write a quote inside a name as \"\")", ErrSyntax, start, excerpt(text, start))
			}
			toks = append(toks, token{tokQuoted, start, end, val})
			i = end

		case isUUIDAt(text, i):
			// Tried before identifiers and numbers, as Cassandra's lexer
			// does: a uuid may start with a letter or a digit.
			i += 36
			toks = append(toks, token{tokUUID, start, i, text[start:i]})

		case c == '0' && (next == 'x' || next == 'X'):
			i += 2
			for i < n && isHex(text[i]) {
				i++
			}
			toks = append(toks, token{tokHex, start, i, text[start:i]})

		case isDigit(c):
			i = scanNumber(text, i)
			toks = append(toks, token{tokNumber, start, i, text[start:i]})

		case isLetter(c):
			i++
			for i < n && isIdentByte(text[i]) {
				i++
			}
			toks = append(toks, token{tokIdent, start, i, text[start:i]})

		default:
			p := ""
			for _, two := range twoCharPunct {
				if strings.HasPrefix(text[i:], two) {
					p = two
					break
				}
			}
			if p == "" && strings.IndexByte(oneCharPunct, c) >= 0 {
				p = text[i : i+1]
			}
			if p == "" {
				return toks, fmt.Errorf("%w: unexpected character %s at byte %d", ErrSyntax, describeChar(text, i), start)
			}
			i += len(p)
			toks = append(toks, token{tokPunct, start, i, p})
		}
	}
	return toks, nil
}

// scanDoubled scans a literal delimited by q in which q itself is written
// twice, as in "a""b". It returns the unescaped content, the offset just
// past the closing delimiter, and false if there is none.
func scanDoubled(text string, i int, q byte) (string, int, bool) {
	i++ // opening delimiter
	// Most literals hold no doubled delimiter: their content is a piece of
	// text, no copy.
	if j := strings.IndexByte(text[i:], q); j >= 0 && (i+j+1 >= len(text) || text[i+j+1] != q) {
		return text[i : i+j], i + j + 1, true
	}
	var b strings.Builder
	for i < len(text) {
		j := strings.IndexByte(text[i:], q)
		if j < 0 {
			return "", 0, false
		}
		b.WriteString(text[i : i+j])
		i += j + 1
		if i < len(text) && text[i] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i, true
	}
	return "", 0, false
}

// scanNumber scans an integer, float (1.5, 1., 2e10, 1.5E-3) or duration
// (1h30m, 10µs) starting at a digit and returns the offset past it.
func scanNumber(text string, i int) int {
	n := len(text)
	for i < n && isDigit(text[i]) {
		i++
	}
	if i < n && text[i] == '.' {
		i++
		for i < n && isDigit(text[i]) {
			i++
		}
	}
	if i < n && (text[i] == 'e' || text[i] == 'E') {
		j := i + 1
		if j < n && (text[j] == '+' || text[j] == '-') {
			j++
		}
		if j < n && isDigit(text[j]) {
			i = j
			for i < n && isDigit(text[i]) {
				i++
			}
		}
	}
	// Duration units and anything glued to the number stay in the token:
	// Cassandra reads 1h30m as one literal, and the micro sign is µ (C2 B5).
	for i < n {
		switch {
		case isIdentByte(text[i]):
			i++
		case text[i] == 0xC2 && i+1 < n && text[i+1] == 0xB5:
			i += 2
		default:
			return i
		}
	}
	return i
}

// isUUIDAt reports whether a uuid literal (8-4-4-4-12 hex digits) starts at i.
func isUUIDAt(text string, i int) bool {
	if len(text)-i < 36 {
		return false
	}
	for k := 0; k < 36; k++ {
		c := text[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
func isIdentByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

// excerpt returns a short quoted piece of text starting at i, for messages.
func excerpt(text string, i int) string {
	const max = 24
	s := text[i:]
	if len(s) > max {
		cut := max
		// Do not split a UTF-8 sequence.
		for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// describeChar names the character at i for an error message.
func describeChar(text string, i int) string {
	r, size := utf8.DecodeRuneInString(text[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("(invalid UTF-8 byte 0x%02X)", text[i])
	}
	return fmt.Sprintf("%q", r)
}
