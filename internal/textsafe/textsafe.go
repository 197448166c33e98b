// Package textsafe makes text from the hostile tree (instance names found
// on disk, upper entries, error messages that carry them) safe for an
// operator's terminal: no escape sequence, carriage return, newline or
// other control character gets through, so such text can neither drive the
// terminal nor forge a line of output. JSON output needs none of this: its
// encoder escapes control characters itself.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Quote returns s unchanged when it is plain (valid UTF-8, only printable
// characters, no quote or backslash), and otherwise s quoted with Go
// escapes (strconv.Quote). Output starting with a double quote is therefore
// always a quoted value. For single values: names and paths.
func Quote(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

func plain(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Line returns s as one printable line: every character that is not
// printable (controls such as ESC, CR, LF, TAB, DEL and C1, Unicode format
// characters such as bidirectional overrides, invalid UTF-8) is written as
// its Go escape (\x1b, \r, \n, \u202e, \xff); everything else is kept. For
// whole messages that mix our words with hostile names.
func Line(s string) string {
	if printableLine(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // 'ESCAPE'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func printableLine(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Lines is Line for multi-line text (a diff): every line is made safe and
// the newlines between them are kept. A carriage return never survives.
func Lines(s string) string {
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Line(p)
	}
	return strings.Join(parts, "\n")
}
