package worker

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorHeaderIsOneBoundedLine(t *testing.T) {
	if got := headerValue("syntax error near\r\nDROP\tTABLE"); got != "syntax error near  DROP TABLE" {
		t.Fatalf("%q", got)
	}
	long := headerValue(strings.Repeat("é", maxErrorHeader))
	if len(long) > maxErrorHeader+len("…") || !strings.HasSuffix(long, "…") || !strings.HasPrefix(long, "éé") || !utf8.ValidString(long) {
		t.Fatalf("%q (%d bytes)", long, len(long))
	}
}
