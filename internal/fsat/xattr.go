//go:build linux

package fsat

import (
	"bytes"
	"sort"

	"golang.org/x/sys/unix"
)

// ListXattr returns the xattr names of the open fd, sorted. A file system
// without xattrs gives none.
func ListXattr(fd int) ([]string, error) {
	return listXattr(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) })
}

// LListXattr returns the xattr names of path without following a final
// symlink (path from ProcPath, or one component relative to a cwd the
// caller pinned), sorted.
func LListXattr(path string) ([]string, error) {
	return listXattr(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
}

func listXattr(list func([]byte) (int, error)) ([]string, error) {
	n, buf, err := grow(list)
	if err == unix.ENOTSUP {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range bytes.Split(buf[:n], []byte{0}) {
		if len(b) > 0 {
			names = append(names, string(b))
		}
	}
	sort.Strings(names)
	return names, nil
}

// GetXattr returns the value of attr on the open fd, and false when it is
// not set (or the file system has no xattrs).
func GetXattr(fd int, attr string) ([]byte, bool, error) {
	return getXattr(func(b []byte) (int, error) { return unix.Fgetxattr(fd, attr, b) })
}

// LGetXattr is GetXattr on path, without following a final symlink.
func LGetXattr(path, attr string) ([]byte, bool, error) {
	return getXattr(func(b []byte) (int, error) { return unix.Lgetxattr(path, attr, b) })
}

func getXattr(get func([]byte) (int, error)) ([]byte, bool, error) {
	n, buf, err := grow(get)
	switch {
	case err == unix.ENODATA || err == unix.ENOTSUP:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return buf[:n], true, nil
}

// grow calls f with a buffer growing fourfold from 256 bytes while the
// kernel answers ERANGE, up to XattrMax, the kernel's own cap.
func grow(f func([]byte) (int, error)) (int, []byte, error) {
	for size := 256; ; size *= 4 {
		if size > XattrMax {
			size = XattrMax
		}
		buf := make([]byte, size)
		var n int
		var err error
		for range Retries {
			if n, err = f(buf); err != unix.EINTR {
				break
			}
		}
		if err == unix.ERANGE && size < XattrMax {
			continue
		}
		return n, buf, err
	}
}
