//go:build linux

package overlay

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
)

// lockInstance takes the lock of the pinned instance directory itself: an
// exclusive flock on a read-only handle of that directory, released when
// the session's fds close. It follows the directory, not its name (the
// owner renaming runtime/A to runtime/B between two calls cannot have both
// work on one upper and work dir at once), and creates nothing, so names a
// caller invents leave no state behind. It waits at most LockWait, then
// fails with ErrBusy naming the instance. A no-op in print-only runs.
func (s *session) lockInstance(in *instanceFDs) error {
	if s.cfg.PrintOnly {
		return nil
	}
	fd, err := fsat.OpenRaw(in.inst, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return pathError(in.instHost, err)
	}
	s.keep(fd)
	deadline := time.Now().Add(LockWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("lock %s: %w", in.instHost, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: instance %s: another process has held the lock on %s for %v (a left4me-overlay still at work, or a process of its owner holding it); try again later", ErrBusy, in.name, in.instHost, LockWait)
		}
		time.Sleep(pause)
	}
}
