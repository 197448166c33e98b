//go:build linux

package migrate

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// staleMounts returns the fuse-overlayfs and overlay mounts at or below dir,
// deepest first, so that each can be unmounted in turn.
func staleMounts(mounts []mountinfo.Entry, dir string) []mountinfo.Entry {
	dir = filepath.Clean(dir)
	var out []mountinfo.Entry
	for _, mi := range mounts {
		if !staleType(mi.FSType) {
			continue
		}
		if mi.MountPoint == dir || strings.HasPrefix(mi.MountPoint, dir+"/") {
			out = append(out, mi)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := strings.Count(out[i].MountPoint, "/"), strings.Count(out[j].MountPoint, "/")
		if di != dj {
			return di > dj
		}
		return out[i].ID > out[j].ID // stacked on the same point: newest first
	})
	return out
}

func staleType(fstype string) bool { return fstype == "fuse.fuse-overlayfs" || fstype == "overlay" }

// sameMount finds mount e in a fresh table: same mount id, device and file
// system type (a mount id alone can be reused once its mount is gone).
func sameMount(table []mountinfo.Entry, e mountinfo.Entry) (mountinfo.Entry, bool) {
	for _, c := range table {
		if c.ID == e.ID && c.Device == e.Device && c.FSType == e.FSType {
			return c, true
		}
	}
	return mountinfo.Entry{}, false
}

// unmountRetries and unmountWait bound how long a busy mount is retried
// before it is detached lazily; movedRetries bounds how often the mount
// table is read again for mounts whose mount points moved meanwhile.
var (
	unmountRetries = 10
	unmountWait    = 200 * time.Millisecond
	movedRetries   = 10
)

// errMoved: the mount is not (or no longer) at the path the table gave.
var errMoved = errors.New("mount point moved")

// mountRoot pins the parent of e's mount point and checks that the name in
// it is the root of mount e (fsat.MountAt: never following the last
// component, and asking a FUSE daemon nothing).
// It returns the parent (to close) and the last component, or errMoved.
func mountRoot(e mountinfo.Entry) (parent *fsat.Dir, base string, err error) {
	p := filepath.Clean(e.MountPoint)
	if !filepath.IsAbs(p) || p == "/" {
		return nil, "", fmt.Errorf("mount %d: unusable mount point %q", e.ID, e.MountPoint)
	}
	parentPath, base := filepath.Split(p)
	parent, err = openNoSymlinks(parentPath)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil, "", errMoved
		}
		return nil, "", err
	}
	id, root, err := fsat.MountAt(parent.FD(), base)
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		err = errMoved
	case err != nil:
	case id != e.ID || !root:
		err = errMoved
	}
	if err != nil {
		parent.Close()
		return nil, "", err
	}
	return parent, base, nil
}

// openNoSymlinks opens the absolute directory path as an O_PATH handle,
// following no symlink on the way (the mount table names the path; the
// tree below the state dir is the owner's, who may have put one there):
// beneath "/", so every component is looked up by fsat.
func openNoSymlinks(path string) (*fsat.Dir, error) {
	root, err := fsat.OpenTrusted("/", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	defer root.Close()
	rel := strings.TrimPrefix(path, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := fsat.OpenRaw(root.FD(), rel, unix.O_PATH|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return nil, err
	}
	return fsat.NewDir(fd, path), nil
}

// unmountMount takes down exactly mount e, found in the mount table at
// e.MountPoint. Before each attempt it checks, through the pinned parent,
// that the name still is e's root (mountRoot), then unmounts that name
// with UMOUNT_NOFOLLOW. A mount still busy after the retries is detached
// (MNT_DETACH) through an O_PATH fd on its own root, checked to carry e's
// mount id, so no name is looked up for it again; it is reported as lazy.
// errMoved means e is not at e.MountPoint: read the table again.
func unmountMount(e mountinfo.Entry) (lazy bool, err error) {
	for i := 0; ; i++ {
		parent, base, err := mountRoot(e)
		if err != nil {
			return false, err
		}
		target := fsat.ProcPath(parent.FD(), base)
		err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			parent.Close()
			return false, nil
		case errors.Is(err, unix.EINVAL):
			// Not a mount point any more: gone, or moved since the check.
			parent.Close()
			return false, errMoved
		case !errors.Is(err, unix.EBUSY):
			parent.Close()
			return false, pathErr("unmount", e.MountPoint, err)
		case i < unmountRetries:
			parent.Close()
			time.Sleep(unmountWait)
			continue
		}
		// Still busy: detach the mount pinned by an fd on its root.
		mnt, err := parent.Open(base, unix.O_PATH|unix.O_NOFOLLOW, 0, 0)
		parent.Close()
		if err != nil {
			return false, errMoved
		}
		defer mnt.Close()
		fd := mnt.FD()
		id, root, err := fsat.MountAt(fd, "")
		if err != nil {
			return false, pathErr("stat", e.MountPoint, err)
		}
		if id != e.ID || !root {
			return false, errMoved
		}
		if err := unix.Unmount(fsat.ProcFD(fd), unix.MNT_DETACH); err != nil {
			return false, pathErr("unmount (lazy)", e.MountPoint, err)
		}
		return true, nil
	}
}

// unmountStale takes down every fuse-overlayfs and overlay mount under
// runtime/ (for real also with --root; only listed in a dry run).
//
// Mounts are found in the mount table and then followed by mount id: the
// owner of the tree can rename a mount point (or a directory above it)
// at any time, from a mount namespace of its own even the mount point
// itself. Each unmount checks through a pinned parent that the name is
// still the root of that mount (unmountMount); when it is not, the table
// is read again and the mount is unmounted where it is now. A mount that
// left the table meanwhile is gone and needs nothing more. One mount that
// cannot be taken down does not keep the others up.
func (m *migrator) unmountStale(runDir string) error {
	table, err := m.readMounts()
	if err != nil {
		return err
	}
	pending := staleMounts(table, runDir)
	var errs []error
	for pass := 0; len(pending) > 0; pass++ {
		if m.beforeUnmount != nil && pass == 0 {
			m.beforeUnmount()
		}
		var moved []mountinfo.Entry
		for _, mi := range pending {
			hp, _ := m.opts.Root.HostPath(mi.MountPoint)
			u := Unmount{Path: hp, FSType: mi.FSType}
			if !m.opts.DryRun {
				m.logf("unmounting %s %s", mi.FSType, textsafe.Quote(hp))
				lazy, err := unmountMount(mi)
				if errors.Is(err, errMoved) {
					moved = append(moved, mi)
					continue
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if lazy {
					u.Lazy = true
					m.logf("warning: %s stayed busy and was detached lazily (MNT_DETACH); processes may still hold it", textsafe.Quote(hp))
				}
			}
			m.rep.Unmounts = append(m.rep.Unmounts, u)
		}
		if len(moved) == 0 {
			break
		}
		if table, err = m.readMounts(); err != nil {
			return err
		}
		pending = pending[:0]
		for _, mi := range moved {
			cur, ok := sameMount(table, mi)
			if !ok {
				continue // unmounted or detached meanwhile
			}
			if pass >= movedRetries {
				errs = append(errs, fmt.Errorf("unmount %s %d at %s: it is not at the mount point the mount table gives (moved %d times while unmounting)", mi.FSType, mi.ID, mi.MountPoint, pass+1))
				continue
			}
			pending = append(pending, cur)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("take down stale mounts: %w", err)
	}
	return nil
}

// readMounts reads this namespace's mount table.
func (m *migrator) readMounts() ([]mountinfo.Entry, error) {
	table, err := mountinfo.ReadFile(m.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return table, nil
}
