//go:build linux

package ctl

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/instance"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"golang.org/x/sys/unix"
)

// Everything under the state dir belongs to the left4me user, who is the
// attacker in the threat model; operators also run l4d2ctl as root. So every
// path below the state dir is resolved through internal/fsat relative to a
// pinned fd of the state dir, and every decision (is merged a mount point?
// what to remove?) is made on fds, never on a re-resolved path.

// maxNames bounds the names read from one directory of the hostile tree.
const maxNames = 1 << 16

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
	flags := unix.O_DIRECTORY
	if readable {
		flags |= unix.O_RDONLY
	} else {
		flags |= unix.O_PATH
	}
	fd, err := fsat.OpenRaw(stateFd, rel, flags, 0, 0)
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
	mode       uint32
	mountPoint bool
}

// statEntry looks at name in dirfd (AT_SYMLINK_NOFOLLOW). mountPoint is set
// when something is mounted on it.
func statEntry(dirfd int, name, fullPath string) (entryState, error) {
	e, err := fsat.Stat(dirfd, name)
	if err == unix.ENOENT {
		return entryState{}, nil
	}
	if err != nil {
		return entryState{}, &os.PathError{Op: "statx", Path: fullPath, Err: err}
	}
	return entryState{exists: true, mode: e.Mode, mountPoint: e.MountRoot}, nil
}

func (e entryState) isDir() bool     { return e.mode&unix.S_IFMT == unix.S_IFDIR }
func (e entryState) isRegular() bool { return e.mode&unix.S_IFMT == unix.S_IFREG }

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
		fd, err := fsat.Open(runtimeFd, name, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0, fsat.NoXdev)
		if err != nil {
			return err
		}
		names, err := fsat.Names(fd, maxNames)
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "readdir", Path: dir, Err: err}
		}
		for _, n := range names {
			e, err := statEntry(fd, n, dir+"/"+n)
			if err != nil {
				unix.Close(fd)
				return err
			}
			if e.mountPoint {
				unix.Close(fd)
				return refuse(ErrStillMounted, "%s/%s is still mounted; refusing to delete %s (nothing removed; stop what uses it, then run l4d2ctl delete %s again)", dir, n, dir, name)
			}
		}
		unix.Close(fd)
	}
	if err := fsat.RemoveAll(runtimeFd, name, dir); err != nil {
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
	defer unix.Close(fd)
	all, err := fsat.Names(fd, maxNames)
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
