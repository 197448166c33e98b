//go:build linux

package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// Every filesystem access below is relative to an open directory fd and
// never follows a symlink: directories are opened one component at a time
// with O_NOFOLLOW, other entries are reached through the pinned parent
// ("/proc/self/fd/DIRFD/NAME" with the l*xattr calls, which do not follow
// the last component), so a directory swapped for a symlink mid-run cannot
// redirect a change outside the tree.

// entry is what the walk knows about one directory entry.
type entry struct {
	name  string
	mode  uint32 // full st_mode
	uid   uint32
	gid   uint32
	rdev  uint64
	mntID uint64
}

func (e entry) isDir() bool  { return e.mode&unix.S_IFMT == unix.S_IFDIR }
func (e entry) isReg() bool  { return e.mode&unix.S_IFMT == unix.S_IFREG }
func (e entry) isLink() bool { return e.mode&unix.S_IFMT == unix.S_IFLNK }

// isWhiteout reports a char device 0/0, the kernel's whiteout.
func (e entry) isWhiteout() bool { return e.mode&unix.S_IFMT == unix.S_IFCHR && e.rdev == 0 }

const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID | unix.STATX_MNT_ID

// statAt stats name in dirfd without following it.
func statAt(dirfd int, name string) (entry, error) {
	var sx unix.Statx_t
	if err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, statxMask, &sx); err != nil {
		return entry{}, err
	}
	return entry{
		name:  name,
		mode:  uint32(sx.Mode),
		uid:   sx.Uid,
		gid:   sx.Gid,
		rdev:  unix.Mkdev(sx.Rdev_major, sx.Rdev_minor),
		mntID: sx.Mnt_id,
	}, nil
}

// statSelf stats the fd itself (AT_EMPTY_PATH).
func statSelf(fd int) (entry, error) {
	var sx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, statxMask, &sx); err != nil {
		return entry{}, err
	}
	return entry{mode: uint32(sx.Mode), uid: sx.Uid, gid: sx.Gid, mntID: sx.Mnt_id}, nil
}

// openDirAt opens the directory name in dirfd without following a symlink.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// readNames returns the names in the open directory fd, sorted. The fd's
// offset is rewound first, so it can be read again.
func readNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}

// procPath names entry name of the pinned directory dirfd for the l*xattr
// calls, which resolve the directory through its fd and do not follow name.
func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

// xattrTarget is a directory entry whose xattrs are read and changed: either
// an open directory (fd >= 0) or name in the pinned directory dirfd.
type xattrTarget struct {
	fd    int
	dirfd int
	name  string
	// cwd: this thread's working directory is dirfd (a walk worker), so
	// name is reached relative to it instead of through /proc/self/fd.
	cwd bool
}

func (t xattrTarget) path() string {
	if t.cwd {
		return t.name
	}
	return procPath(t.dirfd, t.name)
}

func (t xattrTarget) list() ([]string, error) {
	buf := make([]byte, 1024)
	for {
		var n int
		var err error
		if t.fd >= 0 {
			n, err = unix.Flistxattr(t.fd, buf)
		} else {
			n, err = unix.Llistxattr(t.path(), buf)
		}
		if err == unix.ERANGE {
			buf = make([]byte, len(buf)*4)
			continue
		}
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
}

// get returns the value of xattr attr, and false when it is not set.
func (t xattrTarget) get(attr string) ([]byte, bool, error) {
	buf := make([]byte, 256)
	for {
		var n int
		var err error
		if t.fd >= 0 {
			n, err = unix.Fgetxattr(t.fd, attr, buf)
		} else {
			n, err = unix.Lgetxattr(t.path(), attr, buf)
		}
		switch {
		case err == unix.ERANGE:
			buf = make([]byte, len(buf)*4)
			continue
		case err == unix.ENODATA || err == unix.ENOTSUP:
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		return buf[:n], true, nil
	}
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
		fd, err := unix.Openat(t.dirfd, t.name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
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
	if int(e.uid) != ownerUID {
		return fmt.Errorf("owned by uid %d, not the instance owner %d (replaced while migrating?): %w", e.uid, ownerUID, unix.EPERM)
	}
	if err := unix.Fchownat(pfd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if e.isLink() {
		return nil // a symlink's mode cannot change and does not matter
	}
	// Through the fd's own link: fchmodat(AT_SYMLINK_NOFOLLOW) needs Linux
	// 6.6, and fchmod does not take an O_PATH fd.
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(pfd), perm)
}

// removeAllAt removes name in dirfd and everything under it, without
// following symlinks and refusing to descend into another mount.
func removeAllAt(dirfd int, name string, mntID uint64) error {
	e, err := statAt(dirfd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.mntID != mntID {
		return fmt.Errorf("%s is a mount point: refusing to remove across it", name)
	}
	if !e.isDir() {
		return ignoreENOENT(unix.Unlinkat(dirfd, name, 0))
	}
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return err
	}
	// The name may have been swapped for a mount point since the stat
	// above: check the directory actually opened.
	if self, err := statSelf(fd); err != nil || self.mntID != mntID {
		unix.Close(fd)
		if err != nil {
			return err
		}
		return fmt.Errorf("%s is a mount point: refusing to remove across it", name)
	}
	names, err := readNames(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n, mntID); err != nil {
				err = fmt.Errorf("%s/%w", name, err)
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return ignoreENOENT(unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR))
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
