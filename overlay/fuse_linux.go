//go:build linux

package overlay

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// sentinelName is hostpath.Sentinel relative to the state root.
var sentinelName = strings.TrimPrefix(hostpath.Sentinel, hostpath.StateDir+"/")

// checkMigrated refuses to mount before the migration to the kernel's
// on-disk format has run on this host: the sentinel must exist as a regular
// file in the pinned state root. An upper written by fuse-overlayfs carries
// no mark on its root a check could rely on (its opaque dirs and whiteout
// files lie anywhere below), and mounting one unconverted makes the files
// its owner deleted visible again.
//
// The sentinel is the left4me user's file, so that user can forge it, and
// that is acceptable: the check keeps an honest operator from mounting a
// stale format, it is not a security boundary. A forged sentinel only lets
// the owner mount their own upper, made of their own files, as a misread
// view (deleted files back, fuse metadata files visible) under the same
// nosuid,nodev overlay every mount gets; it reaches no file the owner
// could not already read or write and grants no privilege. The sentinel is
// opened O_PATH (no open side effects on a fifo or device planted there),
// without following any symlink, and only its type is trusted; its owner
// and content do not matter.
func (s *session) checkMigrated() error {
	fd, err := fsat.OpenRaw(s.state, sentinelName, unix.O_PATH, 0, 0)
	const todo = "run `left4me-deploy migrate` on this host (or redeploy with left4me-deploy), which converts every instance's upper dir and then writes it"
	if err == unix.ENOENT {
		return fmt.Errorf("%w: %s does not exist, so upper dirs may still be in fuse-overlayfs format: %s", ErrNotMigrated, hostpath.Sentinel, todo)
	}
	if err == unix.ELOOP {
		return fmt.Errorf("%w: refused %s: it is a symlink, not a regular file: remove it and %s", ErrNotMigrated, hostpath.Sentinel, todo)
	}
	if err != nil {
		return fmt.Errorf("check migration sentinel %s: %w", hostpath.Sentinel, pathError(hostpath.Sentinel, err))
	}
	defer unix.Close(fd)
	st, err := fsat.Stat(fd, "")
	if err != nil {
		return fmt.Errorf("stat %s: %w", hostpath.Sentinel, err)
	}
	if t := st.Type(); t != unix.S_IFREG {
		return fmt.Errorf("%w: refused %s: it is a %s, not a regular file: remove it and %s", ErrNotMigrated, hostpath.Sentinel, fileType(t), todo)
	}
	return nil
}

func fileType(t uint32) string {
	switch t {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", t)
}

// fuseScanMax bounds how many entries of the upper's root checkNotFuse
// looks at, so that a mount never costs a walk of a large upper.
const fuseScanMax = 64

// remigrate ends a refusal of an upper found in fuse-overlayfs format. The
// migration skips a host whose sentinel exists, so an upper arriving after it
// ran (from a backup of the old stack, say) needs the sentinel removed first.
var remigrate = fmt.Sprintf(" run `left4me-deploy migrate` first (if it ran before, remove %s so that it runs again; converted upper dirs stay as they are)", hostpath.Sentinel)

// isFuseXattr reports whether an xattr name is fuse-overlayfs metadata.
func isFuseXattr(n string) bool {
	return strings.HasPrefix(n, "user.fuseoverlayfs.") || strings.HasPrefix(n, "user.containers.override_stat")
}

// checkNotFuse refuses an upper that visibly still carries fuse-overlayfs
// metadata: an xattr of it on the upper root or on one of the root's first
// fuseScanMax entries, or one of its whiteout files (.wh.NAME, .wh..wh..opq)
// among those entries. This is a cheap second net behind checkMigrated, for
// an instance restored or copied from an unconverted host after the
// migration ran: fuse-overlayfs marks every directory its user created as
// opaque, so a new top-level directory gives such an upper away, while a
// top-level directory that was only copied up (left4dead2/, typically) does
// not. It cannot prove an upper converted; only the migration can.
func (s *session) checkNotFuse(in *instanceFDs) error {
	fd, err := fsat.OpenRaw(in.upper, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", in.upperHost, err)
	}
	defer unix.Close(fd)
	names, err := fsat.ListXattr(fd)
	if err != nil {
		return fmt.Errorf("list xattrs of %s: %w", in.upperHost, err)
	}
	for _, n := range names {
		if isFuseXattr(n) {
			return fmt.Errorf("%w: %s has xattr %s;%s", ErrFuseFormat, in.upperHost, n, remigrate)
		}
	}
	entries, err := fsat.FirstNames(fd, fuseScanMax)
	if err != nil {
		return fmt.Errorf("read %s: %w", in.upperHost, err)
	}
	// Entry names are single components from getdents; with the thread's
	// private cwd on the pinned upper, llistxattr looks each up there
	// without following a final symlink.
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir %s: %w", in.upperHost, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e, ".wh.") {
			return fmt.Errorf("%w: %s contains %s, a fuse-overlayfs whiteout file;%s", ErrFuseFormat, in.upperHost, e, remigrate)
		}
		names, err := fsat.LListXattr(e)
		if err == unix.ENOENT {
			continue // removed meanwhile: the owner's business
		}
		if err != nil {
			return fmt.Errorf("list xattrs of %s/%s: %w", in.upperHost, e, err)
		}
		for _, n := range names {
			if isFuseXattr(n) {
				return fmt.Errorf("%w: %s/%s has xattr %s;%s", ErrFuseFormat, in.upperHost, e, n, remigrate)
			}
		}
	}
	return nil
}
