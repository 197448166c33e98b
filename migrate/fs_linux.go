//go:build linux

package migrate

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
)

// Every filesystem access below goes through internal/fsat, relative to an
// open directory fd, and never follows a symlink: directories are opened
// one component at a time, other entries are reached through the pinned
// parent ("/proc/thread-self/fd/DIRFD/NAME" with the l*xattr calls, which
// do not follow the last component), so a directory swapped for a symlink
// mid-run cannot redirect a change outside the tree.

// maxNames bounds the names read from one directory of an upper dir.
const maxNames = 1 << 20

// statAt stats name in dirfd without following it.
func statAt(dirfd int, name string) (fsat.Entry, error) { return fsat.Stat(dirfd, name) }

// statSelf stats the fd itself.
func statSelf(fd int) (fsat.Entry, error) { return fsat.Stat(fd, "") }

// errCrossesMount is what openDirAt returns for a name that is a mount
// point: the migration never looks inside a mount, so a FUSE file system
// the owner mounted, with its daemon stopped, cannot hold it.
var errCrossesMount = fmt.Errorf("a mount point; the migration never looks inside a mount (%w)", unix.EXDEV)

// openDirAt opens the directory name (one component) in dirfd for reading,
// without following a symlink or crossing a mount (RESOLVE_NO_XDEV: the
// lookup stops at the mount point and asks the mounted file system
// nothing).
func openDirAt(dirfd int, name string) (int, error) {
	fd, err := fsat.OpenRaw(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0, fsat.NoXdev)
	if err == unix.EXDEV {
		return -1, errCrossesMount
	}
	return fd, err
}

// openDirHandle is openDirAt as a handle; path names it.
func openDirHandle(dirfd int, name, path string) (*fsat.Dir, error) {
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return nil, err
	}
	return fsat.NewDir(fd, path), nil
}

// readNames returns the names in the open directory fd, sorted; it can be
// read again.
func readNames(fd int) ([]string, error) { return fsat.Names(fd, maxNames) }

// procPath names entry name of the pinned directory dirfd for the l*xattr
// calls, which resolve the directory through its fd and do not follow name.
func procPath(dirfd int, name string) string { return fsat.ProcPath(dirfd, name) }

// xattrTarget is a directory entry whose xattrs are read and changed: either
// an open directory (fd >= 0) or name in the pinned directory dirfd.
type xattrTarget struct {
	fd    int
	dirfd int
	name  string
	// cwd: this thread's working directory is dirfd (a walk worker), so
	// name is reached relative to it instead of through /proc/thread-self/fd.
	cwd bool
}

func (t xattrTarget) path() string {
	if t.cwd {
		return t.name
	}
	return procPath(t.dirfd, t.name)
}

func (t xattrTarget) list() ([]string, error) {
	if t.fd >= 0 {
		return fsat.ListXattr(t.fd)
	}
	return fsat.LListXattr(t.path())
}

// get returns the value of xattr attr, and false when it is not set.
func (t xattrTarget) get(attr string) ([]byte, bool, error) {
	if t.fd >= 0 {
		return fsat.GetXattr(t.fd, attr)
	}
	return fsat.LGetXattr(t.path(), attr)
}

func (t xattrTarget) set(attr string, val []byte) error {
	if t.fd >= 0 {
		return unix.Fsetxattr(t.fd, attr, val, 0)
	}
	return unix.Lsetxattr(t.path(), attr, val, 0)
}

// remove removes attr; removing one already gone is not an error, so a
// rerun after a crash converges.
func (t xattrTarget) remove(attr string) error {
	var err error
	if t.fd >= 0 {
		err = unix.Fremovexattr(t.fd, attr)
	} else {
		err = unix.Lremovexattr(t.path(), attr)
	}
	if err == unix.ENODATA {
		return nil
	}
	return err
}

// chownChmod sets the owner and permission bits of the target. A symlink's
// mode cannot be set and is left alone.
//
// The inode is pinned first (the directory's own fd, or O_PATH|O_NOFOLLOW of
// the name) and must still belong to ownerUID: the owner of the tree can
// swap the name for a hardlink to another user's file between the walk's
// stat and this call, and root must never chown or chmod that file. Owner
// and mode are then set on the pinned inode, never by name again.
func (t xattrTarget) chownChmod(ownerUID, uid, gid int, perm uint32) error {
	pfd := t.fd
	if pfd < 0 {
		fd, err := fsat.OpenRaw(t.dirfd, t.name, unix.O_PATH, 0, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		pfd = fd
	}
	e, err := statSelf(pfd)
	if err != nil {
		return err
	}
	if int(e.UID) != ownerUID {
		return fmt.Errorf("owned by uid %d, not the instance owner %d (replaced while migrating?): %w", e.UID, ownerUID, unix.EPERM)
	}
	if err := fsat.Chown(pfd, uid, gid); err != nil {
		return err
	}
	if e.IsLink() {
		return nil // a symlink's mode cannot change and does not matter
	}
	// Through the fd's own link: fchmodat(AT_SYMLINK_NOFOLLOW) needs Linux
	// 6.6, and fchmod does not take an O_PATH fd.
	return unix.Chmod(fsat.ProcFD(pfd), perm)
}

// removeAllAt removes name in dirfd and everything under it, without
// following symlinks and refusing to descend into another mount: dirfd
// must still be on mount mntID, and fsat.RemoveAll stays on it.
func removeAllAt(dirfd int, name string, mntID uint64) error {
	self, err := fsat.Stat(dirfd, "")
	if err != nil {
		return err
	}
	if self.MountID != mntID {
		return &os.PathError{Op: "remove", Path: name, Err: fsat.ErrMountPoint}
	}
	return fsat.RemoveAll(dirfd, name, name)
}

func ignoreENOENT(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// pathErr wraps a syscall error as *os.PathError.
func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
