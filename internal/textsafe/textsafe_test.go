package textsafe

import (
	"strings"
	"testing"
	"unicode"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"test-server", "test-server"},
		{"with space", "with space"},
		{"é", "é"},
		{"a\x1b[2J", `"a\x1b[2J"`},
		{"a\nok migration: x", `"a\nok migration: x"`},
		{"\r", `"\r"`},
		{`a"b`, `"a\"b"`},
		{`a\nb`, `"a\\nb"`},
		{"\u202eevil", `"\u202eevil"`},
		{"\xff", `"\xff"`},
		{"", ""},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ok       migration: migrated 1 instance(s)", "ok       migration: migrated 1 instance(s)"},
		{"instance a\x1b[2J\r\nok       migration: forged", `instance a\x1b[2J\r\nok       migration: forged`},
		{"tab\there", `tab\there`},
		{"del\x7f c1\u009b", `del\x7f c1\u009b`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"bidi \u202e \u2028", `bidi \u202e \u2028`},
		{`keep \ backslash`, `keep \ backslash`},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := Lines("-a\x1b[0m\n+b\r\n"); got != "-a\\x1b[0m\n+b\\r\n" {
		t.Errorf("Lines = %q", got)
	}
}

// FuzzLine: whatever goes in, Line and Quote give one line of printable
// characters.
func FuzzLine(f *testing.F) {
	f.Add("a\x1b[2J\r\nok migration: x")
	f.Add("\xff\u202e\u0085")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Quote(s)} {
			for _, r := range out {
				if !unicode.IsPrint(r) || r == unicode.ReplacementChar && !strings.ContainsRune(s, unicode.ReplacementChar) {
					t.Fatalf("output %q of %q holds %U", out, s, r)
				}
			}
		}
	})
}
