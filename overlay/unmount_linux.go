//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
)

func (s *session) unmount(name string) (Result, error) {
	in, err := s.openInstance(name)
	if errors.Is(err, unix.ENOENT) {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted (%v)", name, err))
	}
	if err != nil {
		return Result{}, err
	}
	id, root, mode, err := statxMount(in.inst, "merged")
	if err == unix.ENOENT {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted (%s does not exist)", name, in.mergedHost))
	}
	if err != nil {
		return Result{}, fmt.Errorf("statx %s: %w", in.mergedHost, err)
	}
	if mode&unix.S_IFMT != unix.S_IFDIR {
		return Result{}, fmt.Errorf("refused %s: not a directory", in.mergedHost)
	}
	if !root {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted", name))
	}
	fd, err := s.openDir(in.inst, "merged", in.mergedHost)
	if err != nil {
		return Result{}, err
	}
	why, err := ours(fd, id, name, false)
	if err != nil {
		return Result{}, fmt.Errorf("inspect mount at %s: %w", in.mergedHost, err)
	}
	if why != "" {
		return Result{}, fmt.Errorf("refused %s: %s (%w)", in.mergedHost, why, ErrForeignMount)
	}
	if id2, _, _, err := statxMount(fd, ""); err != nil || id2 != id {
		return Result{}, fmt.Errorf("%w: %s changed while being inspected", ErrMoved, in.mergedHost)
	}
	if s.cfg.PrintOnly {
		return Result{Message: fmt.Sprintf("print only: would unmount %s", in.mergedHost)}, nil
	}
	// umount(2) through the pinned handle's /proc path would name exactly
	// this mount, but the handle itself keeps it busy (EBUSY), and only a
	// lazy detach gets past that, which would also detach it from under a
	// running server. So: close the handle and unmount "merged" in the
	// pinned instance dir, with its mount id checked immediately before
	// and the mount's absence immediately after. From a user namespace its
	// owner made beforehand, the owner can rename that mount point (the
	// mount is not in that namespace), so a name is not proof; the checks
	// around the call are. UMOUNT_NOFOLLOW refuses a symlink.
	// The never-reused mount id (Linux 6.8+) of the mount checked through
	// the pinned handle, for the checks around the call.
	unique, haveUnique := fsat.UniqueMountID(fd, "")
	s.closeFD(fd)
	if err := unix.Fchdir(in.inst); err != nil {
		return Result{}, fmt.Errorf("chdir %s: %w", in.instHost, err)
	}
	id2, root2, _, err := statxMount(in.inst, "merged")
	same := err == nil && root2 && id2 == id
	if haveUnique {
		u, ok := fsat.UniqueMountID(in.inst, "merged")
		same = same && ok && u == unique
	}
	if !same {
		return Result{}, fmt.Errorf("%w: the mount at %s changed just before the unmount; nothing was unmounted", ErrMoved, in.mergedHost)
	}
	if err := unix.Unmount("merged", unix.UMOUNT_NOFOLLOW); err != nil {
		if err == unix.EBUSY {
			return Result{}, fmt.Errorf("unmount %s: %w (a process still uses it: stop the server first)", in.mergedHost, err)
		}
		return Result{}, fmt.Errorf("unmount %s: %w", in.mergedHost, err)
	}
	stillThere, known := false, false
	if haveUnique {
		stillThere, known = fsat.MountExists(unique)
	}
	if !known {
		_, err := mountByID(id)
		stillThere = err == nil
	}
	if stillThere {
		return Result{Changed: true}, fmt.Errorf("%w: unmounted what was at %s, but the overlay checked there (mount id %d) is still mounted: its owner swapped the mount point during the unmount", ErrMoved, in.mergedHost, id)
	}
	return Result{Changed: true, Message: fmt.Sprintf("unmounted %s from %s", name, in.mergedHost)}, nil
}

// notMounted answers an umount that found nothing mounted at merged. If
// an overlay of the instance is mounted elsewhere than at some instance's
// runtime/NAME/merged (its owner renamed the mount point from a user
// namespace of its own, where the mount does not exist), that is reported
// as a refusal: nothing is unmounted, and the operator learns where the
// overlay went. (After a rename of runtime/NAME itself the overlay sits at
// the new name's merged and is that instance's to unmount.)
func (s *session) notMounted(name, msg string) (Result, error) {
	entries, err := readMountinfo()
	if err != nil {
		return Result{}, err
	}
	runtimeDir := hostpath.RuntimeDir
	if !s.cfg.Root.IsHost() {
		runtimeDir = s.cfg.Root.Join(hostpath.RuntimeDir)
	}
	var at []string
	for _, e := range entries {
		if e.FSType != "overlay" || e.Source != Source(name) {
			continue
		}
		if rest, ok := strings.CutPrefix(e.MountPoint, runtimeDir+"/"); ok {
			if inst, ok := strings.CutSuffix(rest, "/merged"); ok && instance.ValidateName(inst) == nil {
				continue
			}
		}
		at = append(at, strconv.Quote(e.MountPoint))
	}
	if len(at) == 0 {
		return Result{Message: msg}, nil
	}
	return Result{}, fmt.Errorf("%w: %s is not mounted at %s, but its overlay is mounted at %s: its owner moved the mount point; nothing was unmounted (move it back, then umount %s again, or unmount it there as root)", ErrMoved, name, hostpath.Merged(name), strings.Join(at, ", "), name)
}
