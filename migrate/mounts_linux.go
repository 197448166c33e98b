//go:build linux

package migrate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	ID         int
	MountPoint string
	FSType     string
	Source     string
}

// parseMountinfo reads the mountinfo format (proc(5)): fields 1 and 5 are
// the mount id and mount point; after the " - " separator come the
// filesystem type and the source. Paths escape space, tab, newline and
// backslash as \ooo.
func parseMountinfo(r io.Reader) ([]mountInfo, error) {
	var out []mountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			return nil, fmt.Errorf("parse mountinfo line %q: too few fields", line)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("parse mountinfo line %q: mount id: %w", line, err)
		}
		out = append(out, mountInfo{ID: id, MountPoint: unescapeMountinfo(f[4]), FSType: g[0], Source: unescapeMountinfo(g[1])})
	}
	return out, sc.Err()
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// staleMounts returns the fuse-overlayfs and overlay mounts at or below dir,
// deepest first, so that each can be unmounted in turn.
func staleMounts(mounts []mountInfo, dir string) []mountInfo {
	dir = filepath.Clean(dir)
	var out []mountInfo
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
		pfd, err = unix.Openat2(runFD, filepath.Clean(parent), &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH,
		})
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
