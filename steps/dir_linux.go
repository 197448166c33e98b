//go:build linux

package steps

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
)

// Dir is a directory that should exist at Path (on disk, joined onto the
// root) with Mode and Owner. With KeepExisting, an existing directory is
// left as it is (shared system directories such as /usr/local/bin).
//
// The last component is never followed if it is a symlink, and owner and
// mode are set through a file descriptor of the directory itself: the
// directories under the state root belong to the unprivileged user, who
// could otherwise swap one for a symlink to /etc between check and chown.
// The parent is trusted: every managed directory sits either in a
// root-owned directory or directly in the state root, whose own entry lives
// in root-owned /var/lib.
//
// Guard, when set, is called with an O_PATH handle of the directory (as
// mounted: the root of whatever is mounted on it) before it is looked at
// or changed through that handle; an error stops both. Callers refuse
// mounts there they must not act through (a FUSE mount of the state
// root's owner, whose daemon would answer the stat and receive the chown).
type Dir struct {
	Path         string
	Mode         fs.FileMode
	Owner        hostfile.Owner
	KeepExisting bool
	Guard        func(fd int, path string) error
}

// DirState is what is on disk at a Dir's path.
type DirState struct {
	Exists bool
	Same   bool
	Mode   fs.FileMode
	Owner  hostfile.Owner
}

// Check inspects d.Path without following a symlink in its last component.
// A symlink or non-directory there is an error: it is never replaced.
func (d Dir) Check() (DirState, error) {
	st, err := d.stat()
	if errors.Is(err, unix.ENOENT) {
		return DirState{}, nil
	}
	if err != nil {
		return DirState{}, &os.PathError{Op: "stat", Path: d.Path, Err: err}
	}
	if !st.IsDir() {
		return DirState{}, fmt.Errorf("%s exists and is not a directory (mode %#o); move it away and run again", d.Path, st.Mode)
	}
	ds := DirState{Exists: true, Mode: fs.FileMode(st.Mode & 0o7777), Owner: hostfile.Owner{UID: int(st.UID), GID: int(st.GID)}}
	ds.Same = d.KeepExisting || (ds.Mode == d.Mode.Perm()|d.Mode&fs.ModeSticky && ownerMatches(ds.Owner, d.Owner))
	return ds, nil
}

// stat is fsat.Stat of d.Path, through a guarded handle when d.Guard is
// set.
func (d Dir) stat() (fsat.Entry, error) {
	if d.Guard == nil {
		return fsat.Stat(unix.AT_FDCWD, d.Path)
	}
	h, err := fsat.OpenTrusted(d.Path, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return fsat.Entry{}, errors.Unwrap(err) // Check words the error
	}
	defer h.Close()
	if err := d.Guard(h.FD(), d.Path); err != nil {
		return fsat.Entry{}, err
	}
	return fsat.Stat(h.FD(), "")
}

func ownerMatches(have, want hostfile.Owner) bool {
	return (want.UID < 0 || have.UID == want.UID) && (want.GID < 0 || have.GID == want.GID)
}

// Ensure creates d.Path if missing (and missing parents, 0755) and sets its
// mode and owner through a descriptor opened with O_NOFOLLOW.
func (d Dir) Ensure() error {
	parent, name := filepath.Split(filepath.Clean(d.Path))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	pdir, err := fsat.OpenTrusted(parent, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer pdir.Close()
	created := false
	switch err := fsat.Mkdir(pdir.FD(), name, 0o700); {
	case err == nil:
		created = true
	case errors.Is(err, unix.EEXIST):
	default:
		return &os.PathError{Op: "mkdir", Path: d.Path, Err: err}
	}
	if d.KeepExisting && !created {
		return nil
	}
	pathfd, err := fsat.OpenRaw(pdir.FD(), name, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("%s is not a directory (a symlink?); refusing to follow it", d.Path)
		}
		return &os.PathError{Op: "open", Path: d.Path, Err: err}
	}
	h := fsat.NewDir(pathfd, d.Path)
	defer h.Close()
	if d.Guard != nil {
		if err := d.Guard(pathfd, d.Path); err != nil {
			return err
		}
	}
	// Reopened through the handle's /proc link: the same inode on the same
	// mount the guard judged, not a name looked up again.
	rd, err := h.Reopen(unix.O_RDONLY | unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer rd.Close()
	fd := rd.FD()
	if d.Owner.UID >= 0 || d.Owner.GID >= 0 {
		if err := unix.Fchown(fd, d.Owner.UID, d.Owner.GID); err != nil {
			return &os.PathError{Op: "chown", Path: d.Path, Err: err}
		}
	}
	mode := uint32(d.Mode.Perm())
	if d.Mode&fs.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return &os.PathError{Op: "chmod", Path: d.Path, Err: err}
	}
	return nil
}
