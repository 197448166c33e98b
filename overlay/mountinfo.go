package overlay

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/PID/mountinfo, the fields the helper uses.
type mountEntry struct {
	ID         uint64
	ParentID   uint64
	MountPoint string // unescaped, relative to the reader's root
	MountOpts  string // per-mount options (nosuid, nodev, ...)
	FSType     string
	Source     string
	SuperOpts  string
}

// parseMountinfo reads mountinfo lines (proc(5)): ID PARENT MAJ:MIN ROOT
// MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS.
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
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
		e := mountEntry{ID: id, ParentID: parent, MountPoint: unescapeMountinfo(f[4]), MountOpts: f[5], FSType: f[sep+1], Source: unescapeMountinfo(f[sep+2])}
		if sep+3 < len(f) {
			e.SuperOpts = f[sep+3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the kernel's \ooo octal escapes (space, tab,
// newline, backslash).
func unescapeMountinfo(s string) string {
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

// superOpt returns the value of key in a comma-separated super-options field.
func superOpt(opts, key string) (string, bool) {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
