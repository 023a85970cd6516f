package cql

import (
	"errors"
	"strings"
	"testing"
)

// tk renders a token as kind:value for compact expectations.
func tk(t token) string {
	names := map[tokenKind]string{
		tokIdent: "id", tokQuoted: "q", tokString: "s", tokNumber: "n",
		tokHex: "hex", tokUUID: "uuid", tokPunct: "p",
	}
	return names[t.kind] + ":" + t.val
}

func TestLex(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"whitespace", " \t\r\n ", nil},
		{"keywords and idents", "SELECT a_1 FROM T", []string{"id:SELECT", "id:a_1", "id:FROM", "id:T"}},
		{"string", "'abc'", []string{"s:abc"}},
		{"string doubled quote", "'it''s'", []string{"s:it's"}},
		{"empty string", "''", []string{"s:"}},
		{"string of quotes", "''''", []string{"s:'"}},
		{"string hides everything", "'-- /* \" now() ; $$'", []string{"s:-- /* \" now() ; $$"}},
		{"dollar string", "$$it's \"x\" -- ;$$", []string{"s:it's \"x\" -- ;"}},
		{"empty dollar string", "$$$$", []string{"s:"}},
		{"dollar string then dollar", "$$a$$ x", []string{"s:a", "id:x"}},
		{"quoted ident", `"MyTable"`, []string{"q:MyTable"}},
		{"quoted ident doubled quote", `"a""b"`, []string{`q:a"b`}},
		{"empty quoted ident", `""`, []string{"q:"}},
		{"quoted ident hides", `"it's -- x;"`, []string{"q:it's -- x;"}},
		{"line comment dash", "a -- b ; c\nd", []string{"id:a", "id:d"}},
		{"line comment slash", "a // b\r d", []string{"id:a", "id:d"}},
		{"line comment at end", "a --", []string{"id:a"}},
		{"block comment", "a /* b ; 'c */ d", []string{"id:a", "id:d"}},
		{"block comment unnested", "a /* /* */ d", []string{"id:a", "id:d"}},
		{"block comment empty", "a/**/d", []string{"id:a", "id:d"}},
		{"integer", "42", []string{"n:42"}},
		{"negative is punct then number", "-42", []string{"p:-", "n:42"}},
		{"float", "1.5 1. 2e10 1.5E-3 3e+2", []string{"n:1.5", "n:1.", "n:2e10", "n:1.5E-3", "n:3e+2"}},
		{"duration", "1h30m 10µs 2mo", []string{"n:1h30m", "n:10µs", "n:2mo"}},
		{"hex blob", "0xCAFE 0x", []string{"hex:0xCAFE", "hex:0x"}},
		{"uuid digit", "123e4567-e89b-12d3-a456-426614174000", []string{"uuid:123e4567-e89b-12d3-a456-426614174000"}},
		{"uuid letter", "abcdef01-0000-1000-8000-00000000000A", []string{"uuid:abcdef01-0000-1000-8000-00000000000A"}},
		{"not a uuid", "abcdef01-x", []string{"id:abcdef01", "p:-", "id:x"}},
		{"punctuation", "(a,b);[1]{k:v}?.*%/", []string{"p:(", "id:a", "p:,", "id:b", "p:)", "p:;", "p:[", "n:1", "p:]", "p:{", "id:k", "p::", "id:v", "p:}", "p:?", "p:.", "p:*", "p:%", "p:/"}},
		{"operators", "a<=b>=c!=d+=e-=f<g>h=i", []string{"id:a", "p:<=", "id:b", "p:>=", "id:c", "p:!=", "id:d", "p:+=", "id:e", "p:-=", "id:f", "p:<", "id:g", "p:>", "id:h", "p:=", "id:i"}},
		{"qualified", `ks."T".c`, []string{"id:ks", "p:.", "q:T", "p:.", "id:c"}},
		{"non-ascii in string", "'héllo ☃'", []string{"s:héllo ☃"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := lex(tt.in)
			if err != nil {
				t.Fatalf("lex(%q): %v", tt.in, err)
			}
			var got []string
			for _, tok := range toks {
				got = append(got, tk(tok))
				if tok.start < 0 || tok.end > len(tt.in) || tok.start >= tok.end {
					t.Errorf("token %s has bad span [%d,%d)", tk(tok), tok.start, tok.end)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("lex(%q)\n got %v\nwant %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestLexOffsets(t *testing.T) {
	in := "INSERT /* c */ INTO \"T\" (a) VALUES ('x''y', $$z$$)"
	toks, err := lex(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		src := in[tok.start:tok.end]
		switch tok.kind {
		case tokString:
			if src != "'x''y'" && src != "$$z$$" {
				t.Errorf("string span %q", src)
			}
		case tokQuoted:
			if src != `"T"` {
				t.Errorf("quoted span %q", src)
			}
		default:
			if src != tok.val {
				t.Errorf("span %q != value %q", src, tok.val)
			}
		}
	}
}

func TestLexErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"SELECT 'abc", "unterminated string"},
		{"SELECT 'it''s", "unterminated string"},
		{"SELECT $$abc", "unterminated string"},
		{"SELECT $$abc$", "unterminated string"},
		{`SELECT "abc`, "unterminated quoted name"},
		{`SELECT "a""`, "unterminated quoted name"},
		{"SELECT /* abc", "unterminated comment"},
		{"SELECT /* abc *", "unterminated comment"},
		{"SELECT a # b", `unexpected character '#'`},
		{"SELECT $a", `unexpected character '$'`},
		{"SELECT a ! b", `unexpected character '!'`},
		{"SELECT é", `unexpected character 'é'`},
		{"SELECT \xff", "invalid UTF-8 byte 0xFF"},
		{"SELECT\u00a0a", `unexpected character '\u00a0'`},
	}
	for _, tt := range tests {
		_, err := lex(tt.in)
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("lex(%q) = %v, want ErrSyntax", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("lex(%q) = %q, want it to mention %q", tt.in, err, tt.want)
		}
	}
}
