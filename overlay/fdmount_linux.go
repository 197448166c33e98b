//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
)

// fsconfigSetFd is fsconfig(FSCONFIG_SET_FD); a test stands in a 6.13
// kernel's refusal of O_PATH handles.
var fsconfigSetFd = unix.FsconfigSetFd

// fsErr wraps an fsconfig-family error with the kernel's messages for the
// filesystem context (read(2) on the fs fd; overlayfs explains itself there).
func fsErr(fsfd int, what string, err error) error {
	var msgs []string
	buf := make([]byte, 1024)
	for range 32 {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w (kernel: %s)", what, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mountNewAPI builds the overlay with fsopen/fsconfig/fsmount and attaches
// it with move_mount onto the pinned merged handle.
func (s *session) mountNewAPI(in *instanceFDs) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err == unix.ENOSYS || err == unix.EPERM {
		return fmt.Errorf("fsopen overlay: %w (%w)", err, errNewAPIUnavailable)
	}
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w (is the overlay module available?)", err)
	}
	s.keep(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", Source(in.name)); err != nil {
		return fsErr(fsfd, "fsconfig source", err)
	}
	reopened := false
	set := func(key string, fd *int, host string) error {
		var err error
		if s.method == MethodFD {
			err = fsconfigSetFd(fsfd, key, *fd)
			if err == unix.EBADF && !reopened {
				// FSCONFIG_SET_FD takes the pinned O_PATH handles from
				// Linux 6.15; 6.13 and 6.14 refuse them with EBADF while
				// looking the fd up, before the context sees it. Then
				// reopen every pinned directory as an opened one, once, and
				// go on.
				if err := s.reopenPinned(in); err != nil {
					return err
				}
				reopened = true
				err = fsconfigSetFd(fsfd, key, *fd)
			}
		} else {
			err = unix.FsconfigSetString(fsfd, key, fdPath(*fd))
		}
		if err != nil {
			return fsErr(fsfd, fmt.Sprintf("fsconfig %s %s", key, host), err)
		}
		return nil
	}
	for i := range in.layers {
		if err := set("lowerdir+", &in.layers[i], in.layerPaths[i]); err != nil {
			return err
		}
	}
	if err := set("upperdir", &in.upper, in.upperHost); err != nil {
		return err
	}
	if err := set("workdir", &in.work, in.workHost); err != nil {
		return err
	}
	for _, o := range mountOptions {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return fsErr(fsfd, "fsconfig "+o[0]+"="+o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fsErr(fsfd, "create overlay for "+in.mergedHost, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fsErr(fsfd, "fsmount", err)
	}
	s.keep(mfd)
	if err := unix.MoveMount(mfd, "", in.merged, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach overlay at %s: %w", in.mergedHost, err)
	}
	newID, _, _, err := statxMount(mfd, "")
	if err != nil {
		return s.undo(mfd, in, fmt.Errorf("statx new mount: %w", err))
	}
	return s.verifyPlaced(in, newID, mfd)
}

// reopenPinned replaces each pinned layer, upper and work handle by the
// same directory opened for reading, through its own handle ("." below
// it: the same inode, no name looked up).
func (s *session) reopenPinned(in *instanceFDs) error {
	for _, fd := range append(append([]*int{}, ptrs(in.layers)...), &in.upper, &in.work) {
		rd, err := fsat.OpenRaw(*fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
		if err != nil {
			return fmt.Errorf("reopen pinned directory: %w", err)
		}
		s.closeFD(*fd)
		*fd = s.keep(rd)
	}
	return nil
}

// verifyPlaced re-walks runtime/NAME/merged from the state root (which the
// hostile user cannot move) and checks the new mount sits exactly there. The
// mount landed on the pinned merged directory, but its owner could have
// renamed that directory, or runtime/NAME, to elsewhere on the same file
// system (even outside the state root, e.g. into /tmp) between the open and
// the attach; such a mount is detached again.
func (s *session) verifyPlaced(in *instanceFDs, newID uint64, mfd int) error {
	renameBarrier(in.inst)
	id, root, _, err := statxMount(s.state, "runtime/"+in.name+"/merged")
	if err == nil && root && id == newID {
		// Same mount, but is the path still made of directories, not symlinks
		// (statx above follows none in the last component only)?
		fd, oerr := s.openDir(s.state, "runtime/"+in.name+"/merged", in.mergedHost)
		if oerr == nil {
			id2, root2, _, serr := statxMount(fd, "")
			if serr == nil && root2 && id2 == newID {
				return nil
			}
		}
	}
	return s.undo(mfd, in, fmt.Errorf("%w: the new mount is not at %s", ErrMoved, in.mergedHost))
}

// errNewAPIUnavailable marks an fsopen refused as if the kernel lacked it.
var errNewAPIUnavailable = errors.New("new mount API unavailable")

var barrierSeq atomic.Uint64

// renameBarrier waits for any rename(2) in dir that is already under way.
// rename refuses to move a mount point, but it checks that before it moves
// the entry and without locking the directory being moved, so a rename of
// merged that started before the attach can finish after it, carrying the
// fresh mount along. rename holds the parent's i_rwsem throughout; looking
// up a name that is in no cache takes that lock shared (lookup_slow), so it
// returns only once such a rename has finished. Renames that start later see
// the mount point and fail with EBUSY.
func renameBarrier(dir int) {
	name := fmt.Sprintf(".left4me-overlay-barrier-%d-%d-%d", os.Getpid(), unix.Gettid(), barrierSeq.Add(1))
	_, _ = fsat.Stat(dir, name) // the lookup is the point: the name does not exist
}

// undo detaches the mount whose root mfd pins: through the magic link the
// path is exactly that mount, wherever it was moved.
func (s *session) undo(mfd int, in *instanceFDs, cause error) error {
	if err := unix.Unmount(fdPath(mfd), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("%v; detaching it again failed: %w", cause, err)
	}
	return fmt.Errorf("%w; the mount was detached again", cause)
}
