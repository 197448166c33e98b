//go:build linux

// Package rootdir makes and checks the directories in which root keeps its
// own locks, markers and state (the deploy lock, the state-root mount's
// deferral marker), the way remote/root.sh checks its state directory: a
// directory that no other user can have planted, replaced or written into,
// below ancestors that no other user can change either. Files in it are
// then made and read relative to the fd Open returns, never by a name
// looked up again.
package rootdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// ErrUnsafe is wrapped by every refusal: a directory or ancestor that
// another user could change.
var ErrUnsafe = errors.New("unsafe for root's own files")

// Open makes sure the host directory dir (joined onto r) exists as a
// directory of mode 0700 owned by the caller (root on a host), creating it
// (and missing ancestors, 0755) if needed, and returns it open for reading, as a handle named by its path.
// Every ancestor must be a real directory (no symlink) owned by root or the
// caller and writable by no group and no other user; dir itself must not
// be a symlink and must be owned by the caller, and its mode is set to 0700.
// With a test root (r not the host), ancestors are checked from r down.
func Open(r hostpath.Root, dir string) (*fsat.Dir, error) { return open(r, dir, true) }

// Lookup is Open for a reader: the same checks, but nothing is created or
// changed, and a missing directory is an error wrapping fs.ErrNotExist.
func Lookup(r hostpath.Root, dir string) (*fsat.Dir, error) { return open(r, dir, false) }

func open(r hostpath.Root, dir string, create bool) (*fsat.Dir, error) {
	full := r.Join(dir)
	base := "/"
	if !r.IsHost() {
		base = filepath.Clean(string(r))
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(full, base), "/")
	if rel == "" {
		return nil, fmt.Errorf("%s: %w: a root-only directory cannot be %s itself", full, ErrUnsafe, base)
	}
	cur, err := fsat.OpenTrusted(base, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer func() { cur.Close() }()
	euid := uint32(os.Geteuid())
	at := base
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if err := checkAncestor(cur.FD(), at, euid); err != nil {
			return nil, err
		}
		next := filepath.Join(at, p)
		last := i == len(parts)-1
		mode := uint32(0o755)
		if last {
			mode = 0o700
		}
		if !create {
		} else if err := fsat.Mkdir(cur.FD(), p, mode); err != nil && err != unix.EEXIST {
			return nil, &os.PathError{Op: "mkdir", Path: next, Err: err}
		}
		flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		fd, err := fsat.OpenRaw(cur.FD(), p, flags, 0, 0)
		if err != nil {
			if err == unix.ENOTDIR || err == unix.ELOOP {
				if e, err := fsat.Stat(cur.FD(), p); err == nil && e.IsLink() {
					return nil, fmt.Errorf("%s: %w: it is a symbolic link; remove it", next, ErrUnsafe)
				}
				return nil, fmt.Errorf("%s: %w: it is not a directory; remove it", next, ErrUnsafe)
			}
			return nil, &os.PathError{Op: "open", Path: next, Err: err}
		}
		cur.Close()
		cur, at = fsat.NewDir(fd, next), next
	}
	st, err := fsat.Stat(cur.FD(), "")
	if err != nil {
		return nil, &os.PathError{Op: "stat", Path: full, Err: err}
	}
	if st.UID != euid {
		return nil, fmt.Errorf("%s: %w: owned by uid %d, not %d; remove it (rm -rf %s) and run again", full, ErrUnsafe, st.UID, euid, full)
	}
	if st.Mode&0o7777 != 0o700 {
		if !create {
			return nil, fmt.Errorf("%s: %w: mode %#o, not 0700", full, ErrUnsafe, st.Mode&0o7777)
		}
		if err := unix.Fchmod(cur.FD(), 0o700); err != nil {
			return nil, &os.PathError{Op: "chmod", Path: full, Err: err}
		}
	}
	d := cur
	cur = nil
	return d, nil
}

// checkAncestor refuses a directory that a user other than root and the
// caller could change: one they own, or one writable by group or others.
func checkAncestor(fd int, path string, euid uint32) error {
	st, err := fsat.Stat(fd, "")
	if err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.UID != 0 && st.UID != euid {
		return fmt.Errorf("%s: %w: the ancestor is owned by uid %d", path, ErrUnsafe, st.UID)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s: %w: the ancestor is writable by group or others (mode %#o)", path, ErrUnsafe, st.Mode&0o7777)
	}
	return nil
}
