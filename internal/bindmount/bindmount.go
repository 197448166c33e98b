//go:build linux

// Package bindmount judges what is mounted on a directory that root binds
// onto itself with nosuid,nodev (the state root, /var/lib/left4me): by the
// mount itself, its mount id and the mount table entry of that id, never by
// what a service manager says about the mount unit (systemd calls a mount
// unit active for whatever is mounted at its Where=, a FUSE mount of the
// directory's owner included). It asks statx (an empty request) and the
// mount table only, so no FUSE daemon is ever asked anything, and it
// detaches the FUSE mounts of the directory's owner by the fd that pinned
// each.
package bindmount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// Verdict is what is mounted on the directory.
type Verdict int

const (
	// Real: the directory's own bind mount, with nosuid and
	// nodev: a mount of the same file system (device and type) as the one
	// it sits on, whose root is the very directory it covers; or a whole
	// file system of its own mounted there with nosuid and nodev (an
	// /etc/fstab line for it), which only root can mount.
	Real Verdict = iota
	// None: nothing is mounted on the directory (or it does not exist).
	None
	// Other: a mount that is not the directory's nosuid,nodev
	// bind mount (a disk the operator mounted there, a bind without the
	// options); Mount.What says which and why.
	Other
	// Owner: a FUSE mount, which (on the state root) only the
	// directory's owner can have made (fusermount3); root detaches it and
	// acts on nothing through it.
	Owner
)

// Mount is one look at the directory's mount.
type Mount struct {
	Verdict Verdict
	// What says, for messages, what is (or is not) mounted there.
	What string
}

// IsReal reports the Real verdict.
func (m Mount) IsReal() bool { return m.Verdict == Real }

// Judge looks at what is mounted on dir (the topmost mount there). It asks
// statx (an empty request) and the mount table only, so no FUSE daemon is
// ever asked anything.
func Judge(dir string) (Mount, error) {
	fd, err := OpenMountPoint(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Mount{Verdict: None, What: dir + " does not exist"}, nil
	}
	if err != nil {
		return Mount{}, err
	}
	defer unix.Close(fd)
	return JudgeFD(fd, dir)
}

// OpenMountPoint opens dir as an O_PATH handle of whatever is mounted on
// it (the topmost mount), its last component looked up in its root-owned
// parent without following a link.
func OpenMountPoint(dir string) (int, error) {
	parent, err := fsat.OpenTrusted(filepath.Dir(dir), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	defer parent.Close()
	return fsat.OpenDir(parent.FD(), filepath.Base(dir), dir, 0)
}

// JudgeFD judges the mount whose root (or inside) fd pins; dir is its
// path, for messages and for the bind mount's expected root.
func JudgeFD(fd int, dir string) (Mount, error) {
	id, isRoot, err := fsat.MountAt(fd, "")
	if err != nil {
		return Mount{}, &os.PathError{Op: "statx", Path: dir, Err: err}
	}
	if !isRoot {
		return Mount{Verdict: None, What: "nothing is mounted on " + dir}, nil
	}
	m, under, ok, err := fsat.MountEntry(id)
	if err != nil {
		return Mount{}, err
	}
	if !ok {
		return Mount{}, fmt.Errorf("%s: the mount on it (id %d) went away while looked at; run again", dir, id)
	}
	desc := fmt.Sprintf("%s mount %d (source %q, root %q, options %s)", m.FSType, m.ID, m.Source, m.Root, m.MountOpts)
	if fsat.IsFUSE(m.FSType) {
		return Mount{Verdict: Owner, What: "a FUSE mount (only the owner of the directory can have made it) is on " + dir + ": " + desc}, nil
	}
	var missing []string
	for _, opt := range []string{"nosuid", "nodev"} {
		if !hasOpt(m.MountOpts, opt) {
			missing = append(missing, "no "+opt)
		}
	}
	own := m.Device == under.Device && m.FSType == under.FSType
	switch {
	case own && m.Root != bindRoot(under, dir):
		missing = append([]string{fmt.Sprintf("its root is not %q", bindRoot(under, dir))}, missing...)
	case !own && m.Root != "/":
		missing = append([]string{fmt.Sprintf("neither the file system below it (%s %s) nor a whole file system", under.FSType, under.Device)}, missing...)
	}
	if len(missing) > 0 {
		return Mount{Verdict: Other, What: fmt.Sprintf("the %s on %s is not the directory's own nosuid,nodev bind mount: %s", desc, dir, strings.Join(missing, ", "))}, nil
	}
	if !own {
		// A file system of its own, such as an /etc/fstab line for the
		// directory with nosuid,nodev: only root mounts one in this
		// namespace (FUSE is the one kind its owner can, and is refused
		// above), and its flags are what the bind mount would give.
		return Mount{Verdict: Real, What: fmt.Sprintf("%s mounted on %s with nosuid,nodev (a file system of its own, %s)", m.FSType, dir, m.Source)}, nil
	}
	return Mount{Verdict: Real, What: fmt.Sprintf("the nosuid,nodev bind mount %d of %s onto itself (%s)", m.ID, dir, m.MountOpts)}, nil
}

// bindRoot is the root a bind mount of dir onto itself has: dir's place in
// the file system of the mount under it.
func bindRoot(under mountinfo.Entry, dir string) string {
	rel, err := filepath.Rel(under.MountPoint, dir)
	if err != nil || rel == "." {
		return under.Root
	}
	return filepath.Join(under.Root, rel)
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// DetachOwner takes every FUSE mount off dir (the owner may stack
// several), each by the fd that pinned it when it was judged, so no other
// mount stacked there meanwhile is taken down instead; at most a bounded
// number, then it fails. It returns what it detached.
func DetachOwner(dir string) ([]string, error) {
	var done []string
	for range 16 {
		fd, err := OpenMountPoint(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return done, nil
			}
			return done, err
		}
		m, err := JudgeFD(fd, dir)
		if err == nil && m.Verdict == Owner {
			err = fsat.Detach(fd, dir)
			done = append(done, m.What)
		}
		unix.Close(fd)
		if err != nil || m.Verdict != Owner {
			return done, err
		}
	}
	return done, fmt.Errorf("%s: still a FUSE mount on it after detaching 16; something keeps mounting it", dir)
}
