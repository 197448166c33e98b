//go:build linux

package fsat

import (
	"strings"

	"golang.org/x/sys/unix"
)

// The operations below change the tree beneath a pinned directory fd. Each
// takes one name: a single path component, never "", "." or "..", so
// nothing is looked up on the way and the final component is never
// followed (mkdirat, unlinkat, mknodat and renameat2 do not follow a final
// symlink; a chown is made on an fd, not a name). A name with a "/" fails
// with EINVAL before any system call. They return the bare errno; the
// methods of Dir wrap it in an *os.PathError naming the entry.

// oneName refuses a name that is not a single component.
func oneName(name string) error {
	if name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 {
		return unix.EINVAL
	}
	return nil
}

// retry runs f again while it is interrupted by a signal, Retries times.
func retry(f func() error) error {
	var err error
	for range Retries {
		if err = f(); err != unix.EINTR {
			break
		}
	}
	return err
}

// Mkdir makes the directory name in dirfd with mode (the umask applies).
func Mkdir(dirfd int, name string, mode uint32) error {
	if err := oneName(name); err != nil {
		return err
	}
	return retry(func() error { return unix.Mkdirat(dirfd, name, mode) })
}

// Unlink removes the non-directory name in dirfd (a symlink itself).
func Unlink(dirfd int, name string) error {
	if err := oneName(name); err != nil {
		return err
	}
	return retry(func() error { return unix.Unlinkat(dirfd, name, 0) })
}

// Rmdir removes the empty directory name in dirfd.
func Rmdir(dirfd int, name string) error {
	if err := oneName(name); err != nil {
		return err
	}
	return retry(func() error { return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR) })
}

// MkWhiteout makes name in dirfd a character device 0/0, the kernel
// overlay's whiteout.
func MkWhiteout(dirfd int, name string) error {
	if err := oneName(name); err != nil {
		return err
	}
	return retry(func() error { return unix.Mknodat(dirfd, name, unix.S_IFCHR, 0) })
}

// RenameNoReplace renames oldName in oldDirfd to newName in newDirfd,
// failing with EEXIST if newName exists (RENAME_NOREPLACE). A symlink is
// moved itself, and the kernel refuses to move a mount point.
func RenameNoReplace(oldDirfd int, oldName string, newDirfd int, newName string) error {
	if err := oneName(oldName); err != nil {
		return err
	}
	if err := oneName(newName); err != nil {
		return err
	}
	return retry(func() error {
		return unix.Renameat2(oldDirfd, oldName, newDirfd, newName, unix.RENAME_NOREPLACE)
	})
}

// Chown sets the owner of the inode fd pins (any fd, O_PATH too), not
// following it if it is a symlink: fchownat(fd, "", AT_EMPTY_PATH|
// AT_SYMLINK_NOFOLLOW). A uid or gid of -1 leaves it as it is.
func Chown(fd int, uid, gid int) error {
	return retry(func() error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	})
}
