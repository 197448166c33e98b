//go:build linux

// Package fsat is the one layer through which privileged code works on the
// hostile tree: /var/lib/left4me and everything below it, which belongs to
// the unprivileged left4me user. Every operation is relative to a pinned
// directory fd, never to a path looked up again.
//
// Its guarantees, for every function here:
//
//   - No symlink is ever followed, not even a /proc "magic" link, and no
//     lookup resolves outside the directory it starts from: opens use
//     openat2 with RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH
//     and O_NOFOLLOW; stats use AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT.
//   - Stat and FSMagic do not call into the file system they look at
//     (AT_STATX_DONT_SYNC; statmount(2) where the kernel has it, else the
//     mount table entry of the statx mount id), so a
//     stopped FUSE daemon cannot hold a caller that checks for FUSE.
//   - With NoXdev, a lookup never crosses a mount point (RESOLVE_NO_XDEV).
//   - A lookup that races a rename is retried a bounded number of times
//     (Retries), and so is one interrupted by a signal; then it fails.
//   - ReadSmall reads only a regular file, opened without waiting
//     (O_NONBLOCK, so a FIFO cannot hold it), up to a caller's cap checked
//     on the open file before any byte is read.
//   - Listings are bounded: directory names by a caller's cap, extended
//     attribute names and values by the kernel's own limits (64 KiB).
//   - RemoveAll never follows a link, never crosses or removes a mount
//     point (mount id of every directory it opened, and RESOLVE_NO_XDEV),
//     removes a tree of any depth with at most HoldDepth+1 fds (deeper
//     subtrees are moved up into the top directory first) and holds one
//     batch of names per level held, so time stays linear in the size of
//     the tree and memory bounded.
//   - Mkdir, Unlink, Rmdir, MkWhiteout and RenameNoReplace change one
//     name in a pinned directory: a single component (EINVAL otherwise,
//     before any system call), whose final symlink is never followed;
//     Chown changes the inode an fd pins (AT_EMPTY_PATH|
//     AT_SYMLINK_NOFOLLOW), never a name.
//   - Two opens are exceptions to the first rule, and say so: OpenTrusted
//     is the only lookup from the process's root by name, for a trusted
//     path only (the state root, "/", a root-owned directory), with the
//     caller's flags; everything below it is reached through the Dir it
//     returns. Dir.Reopen follows exactly one magic link, the /proc link
//     of the Dir's own fd, to the inode already pinned.
//   - A Dir carries its own path: every error of its methods is an
//     *os.PathError naming the entry and the operation. Functions given a
//     path for messages (Open, OpenDir, RemoveAll, CheckLocalFS, ReadSmall)
//     return *os.PathError values naming that path and the operation,
//     wrapping the errno or one of the sentinels below; the other functions
//     (OpenRaw, Stat, Names, the xattr calls, Mkdir ... Chown) return the
//     bare errno for callers that word their own errors.
//
// Entries in the tree may change under any call: the answers describe the
// inode a call pinned, and callers decide on those answers, on the same
// fd, never on a name looked up again.
package fsat

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// Errors wrapped in the *os.PathError values of this package.
var (
	// ErrMountPoint: the entry is a mount point, or lies on another mount.
	ErrMountPoint = errors.New("is a mount point; refusing to remove through it")
	// ErrTooMany: a directory holds more names than the caller's cap.
	ErrTooMany = errors.New("too many entries")
	// ErrNoMountID: the kernel reports no mount id or mount-root attribute
	// (statx has them from Linux 5.8).
	ErrNoMountID = errors.New("kernel reports no mount id or mount-root attribute (needs Linux 5.8)")
)

const (
	// Retries bounds the retries of a lookup that raced a rename (EAGAIN
	// from RESOLVE_BENEATH) or was interrupted (EINTR).
	Retries = 16
	// XattrMax is the kernel's cap on an xattr name list and on a value
	// (XATTR_LIST_MAX, XATTR_SIZE_MAX).
	XattrMax = 64 << 10
)

// Resolve is the resolution every lookup below a pinned fd uses.
const Resolve = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_BENEATH

// Opt changes how Open resolves.
type Opt uint64

// NoXdev makes a lookup fail with EXDEV rather than cross a mount point.
const NoXdev Opt = unix.RESOLVE_NO_XDEV

// Open opens name beneath dirfd with the open(2) flags given (O_CLOEXEC and
// O_NOFOLLOW are always added, mode is for O_CREAT). path names the entry in
// errors. "." opens dirfd's own inode again.
func Open(dirfd int, name, path string, flags int, mode uint32, opt Opt) (int, error) {
	fd, err := OpenRaw(dirfd, name, flags, mode, opt)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// OpenRaw is Open returning the bare errno, for callers that word their
// own errors.
func OpenRaw(dirfd int, name string, flags int, mode uint32, opt Opt) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags) | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Mode:    uint64(mode),
		Resolve: Resolve | uint64(opt),
	}
	var fd int
	var err error
	for range Retries {
		fd, err = unix.Openat2(dirfd, name, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	if err == unix.ENOTDIR && flags&unix.O_DIRECTORY != 0 {
		// O_NOFOLLOW|O_DIRECTORY reports a final symlink as "not a
		// directory"; say what it is (the open failed either way).
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			err = unix.ELOOP
		}
	}
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// OpenDir opens the directory name beneath dirfd as an O_PATH handle.
func OpenDir(dirfd int, name, path string, opt Opt) (int, error) {
	return Open(dirfd, name, path, unix.O_PATH|unix.O_DIRECTORY, 0, opt)
}

// Entry is what statx tells about one inode, without following a link.
type Entry struct {
	Mode      uint32 // full st_mode: type and permission bits
	UID, GID  uint32
	Rdev      uint64
	Dev       uint64
	Ino       uint64
	MountID   uint64
	MountRoot bool // the inode is the root of a mount (something is mounted here)
	// MountKnown: the kernel reported the mount id and the mount-root flag.
	MountKnown bool
}

// Type is the file type bits of Mode.
func (e Entry) Type() uint32 { return e.Mode & unix.S_IFMT }

// IsDir reports a directory.
func (e Entry) IsDir() bool { return e.Type() == unix.S_IFDIR }

// IsReg reports a regular file.
func (e Entry) IsReg() bool { return e.Type() == unix.S_IFREG }

// IsLink reports a symlink.
func (e Entry) IsLink() bool { return e.Type() == unix.S_IFLNK }

// IsWhiteout reports a character device 0/0, the kernel overlay's whiteout.
func (e Entry) IsWhiteout() bool { return e.Type() == unix.S_IFCHR && e.Rdev == 0 }

const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID | unix.STATX_INO | unix.STATX_MNT_ID

// Stat stats name in dirfd without following it; "" stats dirfd itself.
// MountRoot comes from STATX_ATTR_MOUNT_ROOT; on a kernel without it, for a
// named entry, from comparing its mount id with dirfd's.
func Stat(dirfd int, name string) (Entry, error) {
	// AT_STATX_DONT_SYNC: a FUSE or network file system answers from its
	// cache instead of asking its server, which may be stopped.
	flags := unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | unix.AT_STATX_DONT_SYNC
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var sx unix.Statx_t
	var err error
	for range Retries {
		if err = unix.Statx(dirfd, name, flags, statxMask, &sx); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		Mode:    uint32(sx.Mode),
		UID:     sx.Uid,
		GID:     sx.Gid,
		Rdev:    unix.Mkdev(sx.Rdev_major, sx.Rdev_minor),
		Dev:     unix.Mkdev(sx.Dev_major, sx.Dev_minor),
		Ino:     sx.Ino,
		MountID: sx.Mnt_id,
	}
	hasID := sx.Mask&unix.STATX_MNT_ID != 0
	switch {
	case sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0:
		e.MountRoot = sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
		e.MountKnown = hasID
	case hasID && name != "":
		var p unix.Statx_t
		if err := unix.Statx(dirfd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &p); err != nil {
			return Entry{}, err
		}
		e.MountRoot = p.Mnt_id != sx.Mnt_id
		e.MountKnown = true
	}
	return e, nil
}

// MountAt tells which mount name in dirfd ("" for dirfd itself) is on and
// whether it is that mount's root, asking statx for no file attributes at
// all. The kernel reports the mount id and STATX_ATTR_MOUNT_ROOT for every
// statx, and an empty request is what lets root look at the root of a FUSE
// mount made without allow_other (FUSE refuses any other request from a
// process it does not allow with EACCES) without asking its daemon.
func MountAt(dirfd int, name string) (id uint64, root bool, err error) {
	flags := unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT | unix.AT_STATX_DONT_SYNC
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	var sx unix.Statx_t
	for range Retries {
		if err = unix.Statx(dirfd, name, flags, 0, &sx); err != unix.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		return 0, false, err
	case sx.Mask&unix.STATX_MNT_ID == 0 || sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0:
		return 0, false, ErrNoMountID
	}
	return sx.Mnt_id, sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// StatMount is Stat that fails with ErrNoMountID when the kernel cannot
// say which mount the inode is on and whether it is that mount's root.
func StatMount(dirfd int, name string) (Entry, error) {
	e, err := Stat(dirfd, name)
	if err == nil && !e.MountKnown {
		err = ErrNoMountID
	}
	return e, err
}

// ProcFD is the /proc path of the calling thread's fd: the exact inode (and
// mount) the fd pins, for calls that take only a path.
func ProcFD(fd int) string { return "/proc/thread-self/fd/" + strconv.Itoa(fd) }

// ProcPath names entry name of the pinned directory dirfd for the l*
// calls, which resolve the directory through its fd and do not follow the
// last component. name must be one component.
func ProcPath(dirfd int, name string) string { return ProcFD(dirfd) + "/" + name }

// Names returns the names in the directory open for reading as fd, sorted,
// and ErrTooMany when there are more than max. The fd's offset is rewound
// first, so it can be read again.
func Names(fd int, max int) ([]string, error) {
	names, more, err := readNames(fd, max)
	if err != nil {
		return nil, err
	}
	if more {
		return nil, fmt.Errorf("%w: more than %d in one directory", ErrTooMany, max)
	}
	sort.Strings(names)
	return names, nil
}

// FirstNames returns at most n names of the directory fd, in directory
// order, from its start.
func FirstNames(fd int, n int) ([]string, error) {
	names, _, err := readNames(fd, n)
	return names, err
}

// readNames reads up to max names from the start of fd; more reports that
// the directory holds further ones.
func readNames(fd int, max int) (names []string, more bool, err error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, false, err
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if n <= 0 {
			return names, false, nil
		}
		var batch []string
		_, _, batch = unix.ParseDirent(buf[:n], -1, batch)
		for _, b := range batch {
			if len(names) == max {
				return names, true, nil
			}
			names = append(names, b)
		}
	}
}
