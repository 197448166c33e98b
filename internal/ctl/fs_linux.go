//go:build linux

package ctl

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"golang.org/x/sys/unix"
)

// Everything under the state dir belongs to the left4me user, who is the
// attacker in the threat model; operators also run l4d2ctl as root. So every
// path below the state dir is resolved through internal/fsat relative to a
// pinned fd of the state dir, and every decision (is merged a mount point?
// what to remove?) is made on fds, never on a re-resolved path.

// maxNames bounds the names read from one directory of the hostile tree.
const maxNames = 1 << 16

// The owner can also mount file systems of its own in the tree (FUSE,
// through the set-uid fusermount3) and stop their daemons, and a request to
// such a file system then waits for ever. So no lookup here enters a mount
// or asks a mounted file system anything: the state dir's type comes from
// statmount(2) or the mount table (fsat.CheckLocalFS), every open below it
// stops at a mount point (RESOLVE_NO_XDEV), and a mount point is told by a
// statx that asks its file system nothing (fsat.MountAt).

// openStateDir opens the state dir itself and checks that it is on a local
// file system that only root mounts. Its own path (and the root prefix) is
// trusted: /var/lib is root's; the state dir is its owner's, who may have
// mounted something over it.
func openStateDir(stateDir string) (*fsat.Dir, error) {
	d, err := fsat.OpenTrusted(stateDir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	if err := d.CheckLocalFS("state dir"); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// ErrCrossesMount is wrapped by the error of a lookup that met a mount
// point below the state dir: nothing there is looked at.
var ErrCrossesMount = errors.New("a mount point is on the way; l4d2ctl never looks inside a mount below the state dir")

// openBelow opens rel below the state dir (a pinned fd) as a directory,
// refusing any symlink and any mount point on the way. dirPath is rel's
// full path, for errors.
func openBelow(state *fsat.Dir, rel, dirPath string, readable bool) (*fsat.Dir, error) {
	flags := unix.O_DIRECTORY
	if readable {
		flags |= unix.O_RDONLY
	} else {
		flags |= unix.O_PATH
	}
	fd, err := fsat.OpenRaw(state.FD(), rel, flags, 0, fsat.NoXdev)
	if err == unix.EXDEV {
		return nil, crossesMount(state, rel, dirPath)
	}
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			err = fmt.Errorf("not a directory, or a symlink on the way; symlinks are never followed here (%w)", err)
		}
		return nil, &os.PathError{Op: "open", Path: dirPath, Err: err}
	}
	return fsat.NewDir(fd, dirPath), nil
}

// crossesMount says where the lookup of rel below stateFd met a mount and
// what is mounted there, found without entering it.
func crossesMount(state *fsat.Dir, rel, dirPath string) error {
	err := ErrCrossesMount
	if at, magic, ok := fsat.MountOnPath(state.FD(), rel); ok {
		mp := strings.TrimSuffix(dirPath, strings.TrimPrefix(rel, at))
		what := fsat.FSName(magic)
		if magic == unix.FUSE_SUPER_MAGIC {
			what += ", which any user can mount"
		}
		err = fmt.Errorf("%w: %s is a mount point (%s)", ErrCrossesMount, mp, what)
	}
	return &os.PathError{Op: "open", Path: dirPath, Err: err}
}

// entryState is what statx tells about one name in a directory, without
// following it if it is a symlink.
type entryState struct {
	exists     bool
	mode       uint32
	mountPoint bool
}

// statEntry looks at name in dir (AT_SYMLINK_NOFOLLOW). mountPoint is set
// when something is mounted on it.
//
// A mount point is told first by a statx that asks for no attributes:
// the root of a FUSE mount made without allow_other refuses root anything
// else (EACCES), and its type stays unknown (mode 0).
func statEntry(dir *fsat.Dir, name, fullPath string) (entryState, error) {
	_, root, err := fsat.MountAt(dir.FD(), name)
	if err == unix.ENOENT {
		return entryState{}, nil
	}
	if err != nil {
		return entryState{}, &os.PathError{Op: "statx", Path: fullPath, Err: err}
	}
	e, err := fsat.Stat(dir.FD(), name)
	switch {
	case err == unix.ENOENT:
		return entryState{}, nil
	case err != nil && root:
		return entryState{exists: true, mountPoint: true}, nil
	case err != nil:
		return entryState{}, &os.PathError{Op: "statx", Path: fullPath, Err: err}
	}
	return entryState{exists: true, mode: e.Mode, mountPoint: root || e.MountRoot}, nil
}

func (e entryState) isDir() bool     { return e.mode&unix.S_IFMT == unix.S_IFDIR }
func (e entryState) isRegular() bool { return e.mode&unix.S_IFMT == unix.S_IFREG }

// instDir is runtime/NAME, pinned by an O_PATH fd; dir is nil when the
// instance (or the state dir) does not exist.
type instDir struct {
	dir  *fsat.Dir
	path string
}

// openInstance pins runtime/NAME; a missing directory is not an error.
func (c *Ctl) openInstance(name string) (*instDir, error) {
	d := &instDir{path: c.path(hostpath.Instance(name))}
	state, err := openStateDir(c.path(hostpath.StateDir))
	if errors.Is(err, unix.ENOENT) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	defer state.Close()
	dir, err := openBelow(state, "runtime/"+name, d.path, false)
	if errors.Is(err, unix.ENOENT) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	d.dir = dir
	return d, nil
}

func (d *instDir) exists() bool { return d.dir != nil }

// entry looks at runtime/NAME/n without following it.
func (d *instDir) entry(n string) (entryState, error) {
	if d.dir == nil {
		return entryState{}, nil
	}
	return statEntry(d.dir, n, d.path+"/"+n)
}

func (d *instDir) close() {
	d.dir.Close()
	d.dir = nil
}

// removeInstance removes runtime/NAME. It first refuses, removing nothing,
// when runtime/NAME or any entry directly in it is a mount point; the walk
// itself then never follows a symlink nor crosses into a mount.
func (c *Ctl) removeInstance(name string) error {
	dir := c.path(hostpath.Instance(name))
	state, err := openStateDir(c.path(hostpath.StateDir))
	if err != nil {
		return err
	}
	defer state.Close()
	runtime, err := openBelow(state, "runtime", c.path(hostpath.RuntimeDir), false)
	if err != nil {
		return err
	}
	defer runtime.Close()

	st, err := statEntry(runtime, name, dir)
	if err != nil || !st.exists {
		return err
	}
	if st.mountPoint {
		return refuse(ErrStillMounted, "%s is a mount point; refusing to delete it (nothing removed)", dir)
	}
	if st.isDir() {
		if err := refuseMountsIn(runtime, name, dir); err != nil {
			return err
		}
	}
	if err := fsat.RemoveAll(runtime.FD(), name, dir); err != nil {
		return fmt.Errorf("delete %s: %w", dir, err)
	}
	return nil
}

// refuseMountsIn refuses, with ErrStillMounted, when an entry directly in
// the directory name of runtime (whose path is dir) is a mount point.
func refuseMountsIn(runtime *fsat.Dir, name, dir string) error {
	inst, err := fsat.Open(runtime.FD(), name, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0, fsat.NoXdev)
	if err != nil {
		return err
	}
	d := fsat.NewDir(inst, dir)
	defer d.Close()
	names, err := d.Names(maxNames)
	if err != nil {
		return err
	}
	for _, n := range names {
		e, err := statEntry(d, n, dir+"/"+n)
		if err != nil {
			return err
		}
		if e.mountPoint {
			return refuse(ErrStillMounted, "%s/%s is still mounted; refusing to delete %s (nothing removed; stop what uses it, then run l4d2ctl delete %s again)", dir, n, dir, name)
		}
	}
	return nil
}

// instanceNames lists the directories in runtime/ whose names are valid
// instance names, sorted, at most max of them (the first by name), and how
// many there are in all. A mount point there counts as an instance (its
// status then says why nothing below it is looked at).
func (c *Ctl) instanceNames(max int) (names []string, total int, err error) {
	runtimeDir := c.path(hostpath.RuntimeDir)
	state, err := openStateDir(c.path(hostpath.StateDir))
	if errors.Is(err, unix.ENOENT) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer state.Close()
	runtime, err := openBelow(state, "runtime", runtimeDir, true)
	if errors.Is(err, unix.ENOENT) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer runtime.Close()
	all, err := runtime.Names(maxNames)
	if err != nil {
		return nil, 0, err
	}
	// fsat.Names sorts: the first max valid ones are the first by name.
	for _, n := range all {
		if instance.ValidateName(n) != nil {
			continue
		}
		if e, err := statEntry(runtime, n, runtimeDir+"/"+n); err == nil && (e.isDir() || e.mountPoint) {
			if total < max {
				names = append(names, n)
			}
			total++
		}
	}
	sort.Strings(names)
	return names, total, nil
}
