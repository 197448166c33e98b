//go:build linux

package ctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/instance"
	"golang.org/x/sys/unix"
)

// Everything under the state dir belongs to the left4me user, who is the
// attacker in the threat model; operators also run l4d2ctl as root. So every
// path below the state dir is resolved with openat2 and RESOLVE_NO_SYMLINKS
// relative to a pinned fd of the state dir, and every decision (is merged a
// mount point? what to remove?) is made on fds, never on a re-resolved path.

const resolveSafe = unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_BENEATH

// openat2 opens rel beneath dirfd without following symlinks, retrying the
// EAGAIN that RESOLVE_BENEATH returns when a rename raced the lookup.
func openat2(dirfd int, rel string, flags uint64, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, rel, &how)
		if err == unix.EAGAIN && i < 16 {
			continue
		}
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openStateDir opens the state dir itself. Its own path (and the root prefix)
// is trusted: /var/lib is root's.
func openStateDir(stateDir string) (int, error) {
	fd, err := unix.Open(stateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: stateDir, Err: err}
	}
	return fd, nil
}

// openBelow opens rel below the state dir (a pinned fd) as a directory,
// refusing any symlink on the way. dirPath is rel's full path, for errors.
func openBelow(stateFd int, rel, dirPath string, readable bool) (int, error) {
	flags := uint64(unix.O_DIRECTORY)
	if readable {
		flags |= unix.O_RDONLY
	} else {
		flags |= unix.O_PATH
	}
	fd, err := openat2(stateFd, rel, flags, resolveSafe)
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			err = fmt.Errorf("not a directory, or a symlink on the way; symlinks are never followed here (%w)", err)
		}
		return -1, &os.PathError{Op: "open", Path: dirPath, Err: err}
	}
	return fd, nil
}

// entryState is what statx tells about one name in a directory, without
// following it if it is a symlink.
type entryState struct {
	exists     bool
	mode       uint16
	mountPoint bool
}

// statEntry looks at name in dirfd (AT_SYMLINK_NOFOLLOW). mountPoint is set
// when something is mounted on it: from STATX_ATTR_MOUNT_ROOT (Linux 5.8),
// or else by comparing its mount id with the directory's.
func statEntry(dirfd int, name, fullPath string) (entryState, error) {
	var stx unix.Statx_t
	err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT,
		unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_MNT_ID, &stx)
	if err == unix.ENOENT {
		return entryState{}, nil
	}
	if err != nil {
		return entryState{}, &os.PathError{Op: "statx", Path: fullPath, Err: err}
	}
	st := entryState{exists: true, mode: stx.Mode}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		st.mountPoint = stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
		return st, nil
	}
	var parent unix.Statx_t
	if err := unix.Statx(dirfd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &parent); err != nil {
		return entryState{}, &os.PathError{Op: "statx", Path: filepath.Dir(fullPath), Err: err}
	}
	st.mountPoint = stx.Mask&unix.STATX_MNT_ID != 0 && stx.Mnt_id != parent.Mnt_id
	return st, nil
}

func (e entryState) isDir() bool     { return e.mode&unix.S_IFMT == unix.S_IFDIR }
func (e entryState) isRegular() bool { return e.mode&unix.S_IFMT == unix.S_IFREG }

// maxRemoveDepth bounds the removal walk, which holds one fd per level.
const maxRemoveDepth = 256

// errMountPoint marks a removal that stopped at a mount point.
var errMountPoint = errors.New("is a mount point; refusing to remove through it")

// removeAt removes name in dirfd and, if it is a directory, everything
// below it. It never follows a symlink (a symlink is unlinked itself) and
// never enters a mount point: directories are opened with RESOLVE_NO_XDEV,
// and the kernel refuses to unlink a mount point (EBUSY). fullPath is for
// errors only.
func removeAt(dirfd int, name, fullPath string, depth int) error {
	err := unix.Unlinkat(dirfd, name, 0)
	switch err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR, unix.EPERM:
		// A directory (Linux answers unlink on one with EISDIR).
	case unix.EBUSY:
		return &os.PathError{Op: "remove", Path: fullPath, Err: errMountPoint}
	default:
		return &os.PathError{Op: "unlinkat", Path: fullPath, Err: err}
	}
	// An empty directory goes at once, even one we may not list (the
	// kernel's work/work is root's, mode 0).
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err == nil || err == unix.ENOENT {
		return nil
	} else if err == unix.EBUSY {
		return &os.PathError{Op: "remove", Path: fullPath, Err: errMountPoint}
	}
	if depth >= maxRemoveDepth {
		return &os.PathError{Op: "remove", Path: fullPath, Err: fmt.Errorf("more than %d levels deep", maxRemoveDepth)}
	}
	for attempt := 0; ; attempt++ {
		fd, err := openat2(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY, resolveSafe|unix.RESOLVE_NO_XDEV)
		switch {
		case err == unix.ENOENT:
			return nil
		case err == unix.EXDEV:
			return &os.PathError{Op: "remove", Path: fullPath, Err: errMountPoint}
		case err == unix.ENOTDIR || err == unix.ELOOP:
			// Swapped for a file or symlink since the unlink: unlink that.
			if err := unix.Unlinkat(dirfd, name, 0); err != nil && err != unix.ENOENT {
				return &os.PathError{Op: "unlinkat", Path: fullPath, Err: err}
			}
			return nil
		case err != nil:
			return &os.PathError{Op: "open", Path: fullPath, Err: err}
		}
		f := os.NewFile(uintptr(fd), fullPath)
		names, rerr := f.Readdirnames(-1)
		var cerr error
		if rerr == nil {
			for _, n := range names {
				if err := removeAt(fd, n, fullPath+"/"+n, depth+1); err != nil {
					cerr = err
					break
				}
			}
		}
		f.Close()
		if rerr != nil {
			return &os.PathError{Op: "readdir", Path: fullPath, Err: rerr}
		}
		if cerr != nil {
			return cerr
		}
		err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		switch {
		case err == nil || err == unix.ENOENT:
			return nil
		case err == unix.ENOTEMPTY && attempt < 3:
			continue // something was created meanwhile; walk again
		case err == unix.EBUSY:
			return &os.PathError{Op: "remove", Path: fullPath, Err: errMountPoint}
		default:
			return &os.PathError{Op: "rmdir", Path: fullPath, Err: err}
		}
	}
}

// instDir is runtime/NAME, pinned by an O_PATH fd; fd is -1 when the
// instance (or the state dir) does not exist.
type instDir struct {
	fd   int
	path string
}

// openInstance pins runtime/NAME; a missing directory is not an error.
func (c *Ctl) openInstance(name string) (*instDir, error) {
	d := &instDir{fd: -1, path: c.path(hostpath.Instance(name))}
	stateFd, err := openStateDir(c.path(hostpath.StateDir))
	if errors.Is(err, unix.ENOENT) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(stateFd)
	fd, err := openBelow(stateFd, "runtime/"+name, d.path, false)
	if errors.Is(err, unix.ENOENT) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	d.fd = fd
	return d, nil
}

func (d *instDir) exists() bool { return d.fd >= 0 }

// entry looks at runtime/NAME/n without following it.
func (d *instDir) entry(n string) (entryState, error) {
	if d.fd < 0 {
		return entryState{}, nil
	}
	return statEntry(d.fd, n, d.path+"/"+n)
}

func (d *instDir) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// removeInstance removes runtime/NAME. It first refuses, removing nothing,
// when runtime/NAME or any entry directly in it is a mount point; the walk
// itself then never follows a symlink nor crosses into a mount.
func (c *Ctl) removeInstance(name string) error {
	dir := c.path(hostpath.Instance(name))
	stateFd, err := openStateDir(c.path(hostpath.StateDir))
	if err != nil {
		return err
	}
	defer unix.Close(stateFd)
	runtimeFd, err := openBelow(stateFd, "runtime", c.path(hostpath.RuntimeDir), false)
	if err != nil {
		return err
	}
	defer unix.Close(runtimeFd)

	st, err := statEntry(runtimeFd, name, dir)
	if err != nil || !st.exists {
		return err
	}
	if st.mountPoint {
		return refuse(ErrStillMounted, "%s is a mount point; refusing to delete it (nothing removed)", dir)
	}
	if st.isDir() {
		fd, err := openat2(runtimeFd, name, unix.O_RDONLY|unix.O_DIRECTORY, resolveSafe|unix.RESOLVE_NO_XDEV)
		if err != nil {
			return &os.PathError{Op: "open", Path: dir, Err: err}
		}
		f := os.NewFile(uintptr(fd), dir)
		names, err := f.Readdirnames(-1)
		if err != nil {
			f.Close()
			return &os.PathError{Op: "readdir", Path: dir, Err: err}
		}
		for _, n := range names {
			e, err := statEntry(fd, n, dir+"/"+n)
			if err != nil {
				f.Close()
				return err
			}
			if e.mountPoint {
				f.Close()
				return refuse(ErrStillMounted, "%s/%s is still mounted; refusing to delete %s (nothing removed; stop what uses it, then run l4d2ctl delete %s again)", dir, n, dir, name)
			}
		}
		f.Close()
	}
	if err := removeAt(runtimeFd, name, dir, 0); err != nil {
		return fmt.Errorf("delete %s: %w", dir, err)
	}
	return nil
}

// instanceNames lists the directories in runtime/ whose names are valid
// instance names, sorted.
func (c *Ctl) instanceNames() ([]string, error) {
	runtimeDir := c.path(hostpath.RuntimeDir)
	stateFd, err := openStateDir(c.path(hostpath.StateDir))
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(stateFd)
	fd, err := openBelow(stateFd, "runtime", runtimeDir, true)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), runtimeDir)
	defer f.Close()
	all, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: runtimeDir, Err: err}
	}
	var names []string
	for _, n := range all {
		if instance.ValidateName(n) != nil {
			continue
		}
		if e, err := statEntry(fd, n, runtimeDir+"/"+n); err == nil && e.isDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
