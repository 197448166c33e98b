//go:build linux

package treeview

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Markers in a view line after the path, for entries that a consistent
// file system does not have.
const (
	// Unstatable: readdir lists the name, lstat fails (the errno follows).
	Unstatable = "unstatable"
	// Unlisted: lstat finds the name, readdir of its directory does not
	// list it (the entry follows).
	Unlisted = "unlisted"
	// Unreadable: the directory cannot be read (the errno follows).
	Unreadable = "unreadable"
	// Duplicate: readdir lists the name more than once (the count follows).
	Duplicate = "listed-times"
)

// Options says what a view records.
type Options struct {
	// All records every xattr (a raw upper dir), not only user.* ones (a
	// merged view, as a program using the mount sees it).
	All bool
	// Probe are paths relative to the root that are looked up even if
	// readdir does not list them (see Probes).
	Probe []string
}

// Record returns the view of the tree at root: one line per entry, sorted
// by path, the root itself as ".". It fails only if the tree cannot be
// looked up at all; whatever the tree shows, a directory that cannot be
// read included, is in the lines.
func Record(root string, o Options) ([]string, error) {
	r := recorder{root: root, all: o.All, probe: map[string][]string{}}
	for _, p := range o.Probe {
		p = filepath.Clean(p)
		if p == "." || strings.HasPrefix(p, "../") || p == ".." || filepath.IsAbs(p) {
			continue
		}
		dir, name := filepath.Split(p)
		dir = filepath.Clean(dir)
		r.probe[dir] = append(r.probe[dir], name)
	}
	st, err := lstat(root)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", root, err)
	}
	line, err := r.entry(".", root, st)
	if err != nil {
		return nil, err
	}
	r.lines = append(r.lines, line)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := r.dir("."); err != nil {
			return nil, err
		}
	}
	sort.Strings(r.lines)
	return r.lines, nil
}

type recorder struct {
	root  string
	all   bool
	probe map[string][]string // dir -> names to look up in it
	lines []string
}

func (r *recorder) path(rel string) string {
	if rel == "." {
		return r.root
	}
	return filepath.Join(r.root, rel)
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// dir records the entries of directory rel and below.
func (r *recorder) dir(rel string) error {
	names, err := readDir(r.path(rel))
	if err != nil {
		r.lines = append(r.lines, rel+" "+Unreadable+" "+errText(err))
		return nil
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	var subdirs []string
	visit := func(n string, listed bool) error {
		child := join(rel, n)
		p := r.path(child)
		st, err := lstat(p)
		if err != nil {
			if listed {
				r.lines = append(r.lines, child+" "+Unstatable+" "+errText(err))
			}
			return nil
		}
		line, err := r.entry(child, p, st)
		if err != nil {
			return err
		}
		if !listed {
			line = child + " " + Unlisted + " " + strings.TrimPrefix(line, child+" ")
		}
		if count[n] > 1 {
			line += fmt.Sprintf(" %s=%d", Duplicate, count[n])
		}
		r.lines = append(r.lines, line)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			subdirs = append(subdirs, child)
		}
		return nil
	}
	for n := range count {
		if err := visit(n, true); err != nil {
			return err
		}
	}
	for _, n := range r.probe[rel] {
		if count[n] > 0 {
			continue
		}
		count[n] = -1 // probe once
		if err := visit(n, false); err != nil {
			return err
		}
	}
	sort.Strings(subdirs)
	for _, d := range subdirs {
		if err := r.dir(d); err != nil {
			return err
		}
	}
	return nil
}

// entry is the view line of one entry that lstat found.
func (r *recorder) entry(rel, p string, st unix.Stat_t) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %04o %d:%d", rel, TypeName(st.Mode), st.Mode&0o7777, st.Uid, st.Gid)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		t, err := os.Readlink(p)
		if err != nil {
			fmt.Fprintf(&b, " size=%d readlink-error=%s", st.Size, errText(err))
		} else {
			fmt.Fprintf(&b, " size=%d -> %s", st.Size, t)
		}
	case unix.S_IFREG:
		fmt.Fprintf(&b, " size=%d", st.Size)
		sum, err := hashFile(p)
		if err != nil {
			fmt.Fprintf(&b, " read-error=%s", errText(err))
		} else {
			b.WriteString(" sha256:" + sum)
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		fmt.Fprintf(&b, " dev=%d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	default:
		fmt.Fprintf(&b, " size=%d", st.Size)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK || r.all {
		x, err := xattrs(p, r.all)
		if err != nil {
			fmt.Fprintf(&b, " xattr-error=%s", errText(err))
		} else {
			b.WriteString(x)
		}
	}
	return b.String(), nil
}

// TypeName is the short name of a file type in a view line.
func TypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "char"
	case unix.S_IFBLK:
		return "block"
	}
	return "unknown"
}

func lstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Lstat(p, &st)
		if err != unix.EINTR {
			return st, err
		}
	}
}

// readDir lists a directory; tests replace it.
var readDir = readNames

// readNames returns every name readdir returns for dir, duplicates kept.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func hashFile(p string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func xattrs(p string, all bool) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var names []string
	for _, b := range bytes.Split(buf[:n], []byte{0}) {
		if s := string(b); s != "" && (all || strings.HasPrefix(s, "user.")) {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	var out strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		n, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			fmt.Fprintf(&out, " %s:error=%s", name, errText(err))
			continue
		}
		fmt.Fprintf(&out, " %s=%q", name, v[:n])
	}
	return out.String(), nil
}

func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// Anomalies returns the lines of a view that a consistent file system
// does not show: unstatable, unlisted or duplicate entries.
func Anomalies(lines []string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[1] == Unstatable || f[1] == Unlisted) || strings.Contains(l, " "+Duplicate+"=") {
			out = append(out, l)
		}
	}
	return out
}

// Diff returns the lines only in want ("- ") and only in got ("+ "), ""
// when the two views are equal.
func Diff(want, got []string) string {
	w := map[string]int{}
	for _, l := range want {
		w[l]++
	}
	g := map[string]int{}
	for _, l := range got {
		g[l]++
	}
	var out []string
	for _, l := range want {
		if g[l] < w[l] {
			out = append(out, "- "+l)
			w[l]--
		}
	}
	w = map[string]int{}
	for _, l := range want {
		w[l]++
	}
	for _, l := range got {
		if w[l] < g[l] {
			out = append(out, "+ "+l)
			g[l]--
		}
	}
	return strings.Join(out, "\n")
}

// SplitUnlisted returns the view without its unlisted entries and what
// lies below them, and those entries. fuse-overlayfs can show such names
// (its lookup finds lower names that its readdir, and a fresh mount,
// hide); no kernel view of the same upper can, and a migration must not.
func SplitUnlisted(lines []string) (kept, unlisted []string) {
	var roots []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == Unlisted {
			roots = append(roots, f[0])
			unlisted = append(unlisted, l)
		}
	}
next:
	for _, l := range lines {
		p, _, _ := strings.Cut(l, " ")
		for _, r := range roots {
			if p == r || strings.HasPrefix(p, r+"/") {
				continue next
			}
		}
		kept = append(kept, l)
	}
	return kept, unlisted
}
