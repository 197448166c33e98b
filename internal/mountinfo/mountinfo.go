// Package mountinfo parses /proc/PID/mountinfo (proc(5)), for the mount
// helper's checks and the migration's search for stale mounts.
package mountinfo

import (
	"bufio"
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
	MountPoint string // unescaped, relative to the reader's root
	MountOpts  string // per-mount options (nosuid, nodev, ...)
	FSType     string
	Source     string // unescaped
	SuperOpts  string
}

// Parse reads mountinfo lines. A malformed line is an error: the callers
// make security decisions on this table, so it is never half-read.
func Parse(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+3 > len(f) {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		id, err1 := strconv.ParseUint(f[0], 10, 64)
		parent, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo: malformed ids in %q", sc.Text())
		}
		e := Entry{ID: id, ParentID: parent, MountPoint: Unescape(f[4]), MountOpts: f[5], FSType: f[sep+1], Source: Unescape(f[sep+2])}
		if sep+3 < len(f) {
			e.SuperOpts = f[sep+3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
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
// backslash).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
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
