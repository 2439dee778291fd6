package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodingJSON is the reference: encoding/json without HTML escaping.
func encodingJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppend(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "line\nfeed\r\ttab", "\x00\x01\x1f\x7f",
		"<html>&amp;", "héllo wörld ✓", "bad \xff\xfe utf8", "sep \u2028 \u2029", "\xe2\x80", "🦫",
	} {
		if got, want := string(Quote(s)), encodingJSON(s); got != want {
			t.Errorf("Quote(%q) = %s, want %s", s, got, want)
		}
	}
	// slog spells \b and \f as \u00XX where encoding/json names them.
	if got := string(Quote("\b\f")); got != `"\u0008\u000c"` {
		t.Errorf("Quote(\\b\\f) = %s", got)
	}
}

// decoded is the string a JSON string literal stands for.
func decoded(t *testing.T, lit []byte) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		t.Fatalf("%s is not a JSON string: %v", lit, err)
	}
	return s
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b\\c\n\x00\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := Quote(s)
		if want := encodingJSON(s); decoded(t, got) != decoded(t, []byte(want)) {
			t.Fatalf("Quote(%q) = %s, encoding/json says %s", s, got, want)
		}
	})
}
