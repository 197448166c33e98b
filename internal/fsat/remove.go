//go:build linux

package fsat

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// removeBatch is how many names RemoveAll holds per level at a time.
	removeBatch = 1024
	// HoldDepth is how many directory levels RemoveAll holds open at once.
	// A non-empty directory this deep below the top is moved up into the
	// top directory (a rename under the pinned fds, on the same mount) and
	// emptied from there on a later pass, so any depth is removed with at
	// most HoldDepth+1 fds and as many batches of names.
	HoldDepth = 128
	// movedPrefix starts the names RemoveAll gives the subtrees it moves up.
	movedPrefix = ".left4me-rm-"
)

// RemoveAll removes name in dirfd and, if it is a directory, everything
// below it; a missing name is success. path names name in errors.
//
// It never follows a symlink (a symlink is unlinked itself), never removes
// or enters a mount point: name itself and every directory below must be
// on dirfd's mount (checked by mount id on the fd it opened, and every open
// uses RESOLVE_NO_XDEV), and the kernel refuses to unlink or rename a mount
// point (EBUSY). Depth is not limited: see HoldDepth.
func RemoveAll(dirfd int, name, path string) error {
	self, err := Stat(dirfd, "")
	if err != nil {
		return &os.PathError{Op: "stat", Path: parentOf(path), Err: err}
	}
	r := remover{mnt: self.MountID, known: self.MountKnown, top: -1}
	return r.remove(dirfd, name, &frame{name: path}, 0)
}

type remover struct {
	mnt   uint64
	known bool
	// top is the fd of the directory being removed, once it is open; the
	// subtrees moved up go into it.
	top int
	// seq numbers the moved subtrees; moved counts the moves of the top's
	// current pass, which then needs another one.
	seq   uint64
	moved int
}

// frame is one level of the walk; paths are built only for errors, so a
// deep chain costs no quadratic string building.
type frame struct {
	parent *frame
	name   string
}

func (f *frame) path() string {
	var parts []string
	for ; f != nil; f = f.parent {
		parts = append(parts, f.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "."
}

func fail(op string, f *frame, err error) error {
	return &os.PathError{Op: op, Path: f.path(), Err: err}
}

func (r *remover) remove(dirfd int, name string, at *frame, depth int) error {
	e, err := Stat(dirfd, name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case err != nil:
		return fail("stat", at, err)
	case e.MountRoot || (r.known && e.MountID != r.mnt):
		return fail("remove", at, ErrMountPoint)
	}
	if !e.IsDir() {
		return r.unlink(dirfd, name, at, 0)
	}
	// An empty directory goes at once, even one that may not be listed
	// (the kernel's work/work is root's, mode 0).
	if err := r.unlink(dirfd, name, at, unix.AT_REMOVEDIR); err == nil {
		return nil
	} else if errors.Is(err, ErrMountPoint) {
		return err
	}
	if depth >= HoldDepth && r.top >= 0 {
		return r.moveUp(dirfd, name, at)
	}
	for attempt := 0; ; attempt++ {
		fd, err := OpenRaw(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0, NoXdev)
		switch {
		case err == unix.ENOENT:
			return nil
		case err == unix.EXDEV:
			return fail("remove", at, ErrMountPoint)
		case err == unix.ENOTDIR || err == unix.ELOOP:
			// Swapped for a file or symlink since the stat: unlink that.
			return r.unlink(dirfd, name, at, 0)
		case err != nil:
			return fail("open", at, err)
		}
		if depth == 0 {
			r.top = fd
		}
		err = r.empty(fd, at, depth)
		if depth == 0 {
			r.top = -1
		}
		unix.Close(fd)
		if err != nil {
			return err
		}
		err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		switch {
		case err == nil || err == unix.ENOENT:
			return nil
		case err == unix.ENOTEMPTY && attempt < 3:
			continue // something was created meanwhile; walk again
		case err == unix.EBUSY:
			return fail("remove", at, ErrMountPoint)
		default:
			return fail("rmdir", at, err)
		}
	}
}

// moveUp renames the directory name in dirfd into the top directory under
// a fresh name, for the top's next pass. The rename does not follow a link
// (an entry swapped for one moves the link itself) and the kernel refuses
// to move a mount point.
func (r *remover) moveUp(dirfd int, name string, at *frame) error {
	for range Retries {
		r.seq++
		to := movedPrefix + strconv.FormatUint(r.seq, 10)
		err := unix.Renameat2(dirfd, name, r.top, to, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			r.moved++
			return nil
		case err == unix.ENOENT:
			return nil
		case err == unix.EEXIST:
			continue // a name of the owner's: take the next one
		case err == unix.EBUSY || err == unix.EXDEV:
			return fail("remove", at, ErrMountPoint)
		default:
			return fail("rename", at, err)
		}
	}
	return fail("rename", at, unix.EEXIST)
}

// empty removes everything in the open directory fd, a batch of names at a
// time, after checking that fd is on the walk's mount. The top directory
// is read again while the last pass moved subtrees up into it.
func (r *remover) empty(fd int, at *frame, depth int) error {
	self, err := Stat(fd, "")
	if err != nil {
		return fail("stat", at, err)
	}
	if self.MountRoot || (r.known && self.MountID != r.mnt) {
		return fail("remove", at, ErrMountPoint)
	}
	for {
		if depth == 0 {
			r.moved = 0
		}
		names, more, err := readNames(fd, removeBatch)
		if err != nil {
			return fail("readdir", at, err)
		}
		if len(names) == 0 {
			return nil
		}
		for _, n := range names {
			if err := r.remove(fd, n, &frame{parent: at, name: n}, depth+1); err != nil {
				return err
			}
		}
		if !more && (depth != 0 || r.moved == 0) {
			return nil
		}
	}
}

func (r *remover) unlink(dirfd int, name string, at *frame, flags int) error {
	err := unix.Unlinkat(dirfd, name, flags)
	switch {
	case err == nil || err == unix.ENOENT:
		return nil
	case err == unix.EBUSY:
		return fail("remove", at, ErrMountPoint)
	}
	op := "unlinkat"
	if flags != 0 {
		op = "rmdir"
	}
	return fail(op, at, err)
}
