// Package textsafe makes text from the hostile tree (instance names found
// on disk, upper entries, error messages that carry them) and from a
// compromised host safe for an operator's terminal: no escape sequence,
// carriage return, newline or other control character gets through, so
// such text can neither drive the terminal nor forge a line of output; and
// no such text is longer than a bound or holds a run of blanks, so it
// cannot push a forged row onto the next line of an 80-column terminal by
// its length either. JSON output needs none of this: its encoder escapes
// control characters itself.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The bounds on what one call prints, counted in bytes of its input; the
// rest is replaced by a mark saying how much was cut ("...(+N bytes)").
const (
	// MaxQuoted bounds a name or path (Quote): longer than any instance
	// name or state path the code makes.
	MaxQuoted = 256
	// MaxField bounds hostile free text inside a line (Field): a host's
	// log line, a reason, an error from the host.
	MaxField = 1024
	// MaxLine bounds a whole message (Line), our words and all.
	MaxLine = 4096
)

// Quote returns s unchanged when it is plain (not empty, valid UTF-8,
// only printable characters, no blank, no quote or backslash), and
// otherwise s quoted with Go escapes (strconv.Quote) in which every space
// is written \x20. Output starting with a double quote is therefore always
// a quoted value, and a name holds no word break at all: it can neither
// pass for two words nor, wrapped at a terminal's edge, start a forged row
// or summary of words on the next line. At most MaxQuoted bytes of s are
// shown. For single values: names and paths.
func Quote(s string) string {
	s, cut := clip(s, MaxQuoted)
	if cut == "" && plain(s) {
		return s
	}
	return strings.ReplaceAll(strconv.Quote(s), " ", `\x20`) + cut
}

func plain(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || r == '"' || r == '\\' || r == ' ' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Line returns s as one printable line: every character that is not
// printable (controls such as ESC, CR, LF, TAB, DEL and C1, Unicode format
// characters such as bidirectional overrides, blanks other than the space,
// invalid UTF-8) is written as its Go escape (\x1b, \r, \n, \u202e, \xff);
// everything else is kept, and at most MaxLine bytes of s are shown. For
// whole messages that mix our words (and our alignment) with hostile
// names; the names in them go through Quote, free hostile text through
// Field.
func Line(s string) string {
	s, cut := clip(s, MaxLine)
	return escape(s) + cut
}

// Field is Line for hostile free text printed inside a line (a host's log
// line or error, a reason with names in it): every blank of a run of two
// or more is written \x20, so the text cannot align a forged row, and at
// most MaxField bytes of s are shown.
func Field(s string) string {
	s, cut := clip(s, MaxField)
	return escapeBlankRuns(escape(s)) + cut
}

func escape(s string) string {
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

// escapeBlankRuns writes every space of a run of two or more as \x20. In
// escaped text (escape, strconv.Quote) a raw space is always a space of
// the input, never part of an escape.
func escapeBlankRuns(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && (i > 0 && s[i-1] == ' ' || i+1 < len(s) && s[i+1] == ' ') {
			b.WriteString(`\x20`)
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// clip cuts s to at most max bytes, at a character boundary, and returns
// the mark for what it cut ("" when nothing).
func clip(s string, max int) (string, string) {
	if len(s) <= max {
		return s, ""
	}
	end := max
	for end > 0 && end > max-utf8.UTFMax && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end], "...(+" + strconv.Itoa(len(s)-end) + " bytes)"
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
