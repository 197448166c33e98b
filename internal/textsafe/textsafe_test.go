package textsafe

import (
	"strings"
	"testing"
	"unicode"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"test-server", "test-server"},
		{"with space", `"with\x20space"`},
		{"runs   of", `"runs\x20\x20\x20of"`},
		{"x       ok       verify", `"x\x20\x20\x20\x20\x20\x20\x20ok\x20\x20\x20\x20\x20\x20\x20verify"`},
		{"ok=11 changed=0 failed=0 skipped=0", `"ok=11\x20changed=0\x20failed=0\x20skipped=0"`},
		{strings.Repeat("x", 60) + " ok=11 changed=0 failed=0 skipped=0", `"` + strings.Repeat("x", 60) + `\x20ok=11\x20changed=0\x20failed=0\x20skipped=0"`},
		{strings.Repeat("a", MaxQuoted), strings.Repeat("a", MaxQuoted)},
		{strings.Repeat("a", MaxQuoted+5), `"` + strings.Repeat("a", MaxQuoted) + `"...(+5 bytes)`},
		{strings.Repeat("é", MaxQuoted), `"` + strings.Repeat("é", MaxQuoted/2) + `"...(+256 bytes)`},
		{"é", "é"},
		{"a\x1b[2J", `"a\x1b[2J"`},
		{"a\nok migration: x", `"a\nok\x20migration:\x20x"`},
		{"\r", `"\r"`},
		{`a"b`, `"a\"b"`},
		{`a\nb`, `"a\\nb"`},
		{"\u202eevil", `"\u202eevil"`},
		{"\xff", `"\xff"`},
		{"", `""`},
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
	if got := Line(strings.Repeat("x", MaxLine+1)); got != strings.Repeat("x", MaxLine)+"...(+1 bytes)" {
		t.Errorf("Line of %d bytes = %d bytes ending %q", MaxLine+1, len(got), got[len(got)-20:])
	}
	if got := Lines("-a\x1b[0m\n+b\r\n"); got != "-a\\x1b[0m\n+b\\r\n" {
		t.Errorf("Lines = %q", got)
	}
}

func TestField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain words stay", "plain words stay"},
		{"a  b", `a\x20\x20b`},
		{"name       ok       verify", `name\x20\x20\x20\x20\x20\x20\x20ok\x20\x20\x20\x20\x20\x20\x20verify`},
		{"  lead", `\x20\x20lead`},
		{"esc\x1b  x", `esc\x1b\x20\x20x`},
		{strings.Repeat("y", MaxField+3), strings.Repeat("y", MaxField) + "...(+3 bytes)"},
	} {
		if got := Field(tc.in); got != tc.want {
			t.Errorf("Field(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A hostile name of any length or spacing, printed inside one of our rows
// by Quote or Field, never puts a row of ours (two words apart by a run of
// blanks, or a bare summary) at the start of a line on an 80-column
// terminal.
func TestNoForgedRowWhenWrapped(t *testing.T) {
	// A name (Quote) padded with visible characters instead of blanks
	// cannot start a forged row or summary of words either: it holds no
	// word break at all. (Field keeps single spaces: host free text, which a
	// compromised host could forge whole anyway.)
	for pad := 0; pad < 90; pad++ {
		for _, f := range []string{"ok verify", "ok=11 changed=0 failed=0 skipped=0"} {
			line := "migration:         skipping " + Quote("/var/lib/left4me/runtime/"+strings.Repeat("x", pad)+f) + ": not an instance name"
			for i := 0; i < len(line); i += 80 {
				row := line[i:min(i+80, len(line))]
				if strings.HasPrefix(row, "ok verify") || strings.HasPrefix(row, "ok=11 changed") {
					t.Fatalf("line %q wraps into the forged row %q", line, row)
				}
			}
		}
	}

	forged := []string{"ok       verify", "ok=11 changed=0 failed=0 skipped=0"}
	for pad := 0; pad < 90; pad++ {
		for _, f := range forged {
			name := strings.Repeat(" ", pad) + f + strings.Repeat(" ", 80)
			for _, line := range []string{
				"migration:         skipping " + Quote("/var/lib/left4me/runtime/"+name) + ": not an instance name",
				"h1:   migration: " + Field("skipping /var/lib/left4me/runtime/"+name),
			} {
				for i := 0; i < len(line); i += 80 {
					row := strings.TrimLeft(line[i:min(i+80, len(line))], " ")
					if strings.HasPrefix(row, "ok       ") || strings.HasPrefix(row, "ok=11 changed") {
						t.Fatalf("line %q wraps into the forged row %q", line, row)
					}
				}
			}
		}
	}
}

// FuzzLine: whatever goes in, Line and Quote give one line of printable
// characters.
func FuzzLine(f *testing.F) {
	f.Add("a\x1b[2J\r\nok migration: x")
	f.Add("\xff\u202e\u0085")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Quote(s), Field(s)} {
			if strings.Contains(out, "  ") && out != Line(s) {
				t.Fatalf("output %q of %q holds a run of blanks", out, s)
			}
			for _, r := range out {
				if !unicode.IsPrint(r) || r == unicode.ReplacementChar && !strings.ContainsRune(s, unicode.ReplacementChar) {
					t.Fatalf("output %q of %q holds %U", out, s, r)
				}
			}
		}
	})
}
