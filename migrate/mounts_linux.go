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
)

// staleMounts returns the fuse-overlayfs and overlay mounts at or below dir,
// deepest first, so that each can be unmounted in turn.
func staleMounts(mounts []mountinfo.Entry, dir string) []mountinfo.Entry {
	dir = filepath.Clean(dir)
	var out []mountinfo.Entry
	for _, mi := range mounts {
		if mi.FSType != "fuse.fuse-overlayfs" && mi.FSType != "overlay" {
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

// unmountRetries and unmountWait bound how long a busy mount is retried
// before it is detached lazily.
var (
	unmountRetries = 10
	unmountWait    = 200 * time.Millisecond
)

// unmountUnder unmounts the mount at mountPoint, a path inside the runtime
// directory open at runFD (host path runDir). The parent is resolved from
// runFD without following symlinks, so a directory swapped for a symlink
// cannot aim the unmount elsewhere, and the last component is not followed
// (UMOUNT_NOFOLLOW). A mount still busy after the retries is detached
// (MNT_DETACH) as a last resort and reported as lazy.
func unmountUnder(runFD int, runDir, mountPoint string) (lazy bool, err error) {
	rel, err := filepath.Rel(runDir, mountPoint)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false, fmt.Errorf("unmount %s: not below %s", mountPoint, runDir)
	}
	parent, base := filepath.Split(rel)
	pfd := runFD
	if parent != "" {
		pfd, err = fsat.OpenRaw(runFD, filepath.Clean(parent), unix.O_PATH|unix.O_DIRECTORY, 0, 0)
		if err != nil {
			return false, pathErr("open parent of mount", mountPoint, err)
		}
		defer unix.Close(pfd)
	}
	target := procPath(pfd, base)
	for i := 0; ; i++ {
		err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		if err == nil || errors.Is(err, unix.EINVAL) && i > 0 {
			// EINVAL on a retry: the mount went away meanwhile.
			return false, nil
		}
		if !errors.Is(err, unix.EBUSY) || i >= unmountRetries {
			break
		}
		time.Sleep(unmountWait)
	}
	if !errors.Is(err, unix.EBUSY) {
		return false, pathErr("unmount", mountPoint, err)
	}
	if err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW|unix.MNT_DETACH); err != nil {
		return false, pathErr("unmount (lazy)", mountPoint, err)
	}
	return true, nil
}
