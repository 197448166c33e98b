// Package mountinfo parses /proc/PID/mountinfo (proc(5)), for the mount
// helper's checks and the migration's search for stale mounts.
//
// The format is read exactly as the kernel writes it (fs/proc_namespace.c):
// one mount per line, fields separated by single spaces, the path fields
// and the source with space, tab, newline and backslash escaped as \ooo
// octal, zero or more optional fields ended by a lone "-". Any other byte
// (a vertical tab, a form feed, a carriage return) is part of its field:
// the fields are split on single spaces only, never on "whitespace". There
// is no line length limit: one overlay with 500 long layers makes a line of
// more than a megabyte.
package mountinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Entry is one line: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] -
// FSTYPE SOURCE SUPEROPTS.
type Entry struct {
	ID         uint64
	ParentID   uint64
	Device     string // MAJ:MIN of the file system
	Root       string // unescaped: the directory of the file system mounted here
	MountPoint string // unescaped, relative to the reader's root
	MountOpts  string // per-mount options (nosuid, nodev, ...)
	// Optional holds the optional fields (shared:N master:N ...) as the
	// kernel wrote them, separated by single spaces; "" when there are none.
	Optional string
	FSType   string // unescaped (a FUSE subtype is chosen by the mounter)
	Source   string // unescaped
	// SuperOpts are the super-block options as written: each file system
	// escapes its own values (overlayfs escapes "," and ":" in layer paths),
	// so they are not unescaped here; see SuperOpt.
	SuperOpts string
}

// ErrMalformed is wrapped by every error about a line that does not follow
// proc(5).
var ErrMalformed = errors.New("mountinfo: malformed line")

// Parse reads mountinfo lines. A malformed line is an error: the callers
// make security decisions on this table, so it is never half-read.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	err := Each(r, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Each calls fn with every entry in turn, stopping at the first error (of
// reading, parsing or fn). Lines of any length are read whole.
func Each(r io.Reader, fn func(Entry) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("mountinfo: read line %d: %w", n, err)
		}
		if l := strings.TrimSuffix(line, "\n"); l != "" {
			e, perr := ParseLine(l)
			if perr != nil {
				return fmt.Errorf("line %d: %w", n, perr)
			}
			if ferr := fn(e); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// ParseLine parses one line without its newline.
func ParseLine(line string) (Entry, error) {
	var e Entry
	bad := func(what string) (Entry, error) {
		return Entry{}, fmt.Errorf("%w (%s): %s", ErrMalformed, what, quoteShort(line))
	}
	// The six fixed fields, each non-empty.
	var f [6]string
	rest := line
	for i := range f {
		var ok bool
		f[i], rest, ok = strings.Cut(rest, " ")
		if !ok {
			return bad("fewer than 7 fields")
		}
		if f[i] == "" {
			return bad("empty field " + strconv.Itoa(i+1))
		}
	}
	var err1, err2 error
	e.ID, err1 = strconv.ParseUint(f[0], 10, 64)
	e.ParentID, err2 = strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return bad("mount ids")
	}
	if !validDevice(f[2]) {
		return bad("device")
	}
	e.Device, e.Root, e.MountPoint, e.MountOpts = f[2], Unescape(f[3]), Unescape(f[4]), f[5]

	// Optional fields up to the lone "-".
	var opt []string
	for {
		var field string
		var ok bool
		field, rest, ok = strings.Cut(rest, " ")
		if !ok {
			return bad(`no " - " separator`)
		}
		if field == "-" {
			break
		}
		if field == "" {
			return bad("empty optional field")
		}
		opt = append(opt, field)
	}
	e.Optional = strings.Join(opt, " ")

	// FSTYPE SOURCE SUPEROPTS: the source may be empty (mount "" /x), and
	// the super options run to the end of the line.
	fstype, rest, ok1 := strings.Cut(rest, " ")
	source, super, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return bad("fewer than 3 fields after the separator")
	}
	if fstype == "" {
		return bad("empty file system type")
	}
	e.FSType, e.Source, e.SuperOpts = Unescape(fstype), Unescape(source), super
	return e, nil
}

func validDevice(s string) bool {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(maj, 10, 32)
	_, err2 := strconv.ParseUint(min, 10, 32)
	return err1 == nil && err2 == nil
}

// quoteShort quotes a line for an error message, cut to a readable length:
// a line can be megabytes long and comes from names the caller chose.
func quoteShort(s string) string {
	const max = 200
	if len(s) > max {
		return strconv.Quote(s[:max]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// ReadFile parses the mountinfo file at path (e.g. /proc/self/mountinfo).
func ReadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Unescape undoes the kernel's \ooo octal escapes (space, tab, newline,
// backslash). A backslash not followed by three octal digits is kept.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Escape writes s as the kernel writes a path or source field: space, tab,
// newline and backslash as \ooo octal. Unescape(Escape(s)) == s for every s.
func Escape(s string) string {
	if !strings.ContainsAny(s, " \t\n\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SuperOpt returns the value of key in a comma-separated super-options field.
func SuperOpt(opts, key string) (string, bool) {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
