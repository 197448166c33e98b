//go:build linux

package overlay

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// mountLegacy mounts with mount(2) for kernels before lowerdir+: the thread's
// cwd is /proc/thread-self/fd, so "12" names fd 12, a pinned directory, and
// 500 layers take at most 2,000 bytes of mount(2)'s 4,096-byte page.
func (s *session) mountLegacy(in *instanceFDs) error {
	before, err := readMountinfo()
	if err != nil {
		return err
	}
	known := make(map[uint64]bool, len(before))
	for _, e := range before {
		known[e.ID] = true
	}
	procfd, err := s.openProcFD()
	if err != nil {
		return err
	}
	if err := unix.Fchdir(procfd); err != nil {
		return fmt.Errorf("chdir /proc/thread-self/fd: %w", err)
	}
	data := legacyData(in)
	if len(data) >= 4096 {
		return fmt.Errorf("mount options for %d layers take %d bytes, over mount(2)'s 4095", len(in.layers), len(data))
	}
	err = unix.Mount(Source(in.name), strconv.Itoa(in.merged), "overlay", unix.MS_NOSUID|unix.MS_NODEV, data)
	if err != nil {
		return fmt.Errorf("mount overlay at %s: %w (see dmesg for overlayfs' reason)", in.mergedHost, err)
	}
	// Find the new mount: the one overlay of this instance not there before.
	after, err := readMountinfo()
	if err != nil {
		return err
	}
	var fresh []mountinfo.Entry
	for _, e := range after {
		if !known[e.ID] && e.FSType == "overlay" && e.Source == Source(in.name) {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) != 1 {
		return fmt.Errorf("mounted at %s but found %d new overlays of it in the mount table", in.mergedHost, len(fresh))
	}
	id := fresh[0].ID
	// Unlike the new API, mount(2) leaves no handle on the new mount. If it
	// is not at merged, pin its root by the path the mount table shows
	// (resolved without symlinks from "/") and detach exactly that mount; the
	// owner may move it meanwhile, so look again a few times.
	renameBarrier(in.inst)
	var last string
	for range 16 {
		if rid, root, _, err := statxMount(s.state, "runtime/"+in.name+"/merged"); err == nil && root && rid == id {
			if fd, err := s.openDir(s.state, "runtime/"+in.name+"/merged", in.mergedHost); err == nil {
				if fid, _, _, err := statxMount(fd, ""); err == nil && fid == id {
					return nil
				}
			}
		}
		e, err := mountByID(id)
		if err != nil {
			return err
		}
		last = e.MountPoint
		mp := strings.TrimPrefix(e.MountPoint, "/")
		if mp == "" {
			mp = "."
		}
		fd, err := s.openDir(s.root, mp, e.MountPoint)
		if err != nil {
			continue
		}
		if fid, froot, _, err := statxMount(fd, ""); err == nil && froot && fid == id {
			return s.undo(fd, in, fmt.Errorf("%w: the new mount landed at %s, not %s", ErrMoved, e.MountPoint, in.mergedHost))
		}
	}
	return fmt.Errorf("%w: the new mount is at %s, not %s, and kept moving: unmount it by hand", ErrMoved, last, in.mergedHost)
}

func (s *session) openProcFD() (int, error) {
	fd, err := unix.Open("/proc/thread-self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /proc/thread-self/fd (is /proc mounted in the target namespace?): %w", err)
	}
	return s.keep(fd), nil
}

// legacyData renders mount(2)'s option string with fd numbers for paths.
func legacyData(in *instanceFDs) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	for i, fd := range in.layers {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(fd))
	}
	fmt.Fprintf(&b, ",upperdir=%d,workdir=%d", in.upper, in.work)
	for _, o := range mountOptions {
		b.WriteString("," + o[0] + "=" + o[1])
	}
	return b.String()
}
