//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// maxMounts returns the cap in force: Config.MaxMounts, else the file's,
// else DefaultMaxMounts.
func (s *session) maxMounts() (int, error) {
	if s.cfg.MaxMounts > 0 {
		return s.cfg.MaxMounts, nil
	}
	p := s.cfg.Root.Join(MaxMountsFile)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENOENT) {
		return DefaultMaxMounts, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", MaxMountsFile, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", MaxMountsFile, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o022 != 0 || st.Size > 64 {
		return 0, fmt.Errorf("refused %s: it must be a regular file of root's, writable by root only, of a few bytes", MaxMountsFile)
	}
	buf := make([]byte, 64)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", MaxMountsFile, err)
	}
	m, err := parseMaxMounts(string(buf[:n]))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", MaxMountsFile, err)
	}
	return m, nil
}

// lockMounts takes the host-wide lock of mounts, held until the session
// closes its fds. It waits at most LockWait.
func (s *session) lockMounts() error {
	dir := s.cfg.Root.Join(mountsLockDir)
	if !s.cfg.Root.IsHost() {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("make %s: %w", mountsLockDir, err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", mountsLockDir, err)
	}
	s.keep(dfd)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", mountsLockDir, err)
	}
	if st.Uid != 0 || st.Mode&0o077 != 0 {
		return fmt.Errorf("refused %s: it must be root's, mode 0700 (it is uid %d, mode %#o)", mountsLockDir, st.Uid, st.Mode&0o7777)
	}
	deadline := time.Now().Add(LockWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := unix.Flock(dfd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("lock %s: %w", mountsLockDir, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: another left4me-overlay has held the host's mount lock (%s) for %v; try again later", ErrBusy, mountsLockDir, LockWait)
		}
		time.Sleep(pause)
	}
}

// checkMountCap counts the instance overlays mounted in the target
// namespace and refuses one more past the cap. The caller holds the
// mount lock until its mount is made.
func (s *session) checkMountCap() error {
	limit, err := s.maxMounts()
	if err != nil {
		return err
	}
	if err := s.lockMounts(); err != nil {
		return err
	}
	n, err := countInstanceOverlays()
	if err != nil {
		return err
	}
	if n >= limit {
		return fmt.Errorf("%w: %d instance overlays are mounted on this host, the most left4me-overlay mounts (%s, default %d); stop an instance (l4d2ctl stop NAME) first", ErrTooManyMounts, n, MaxMountsFile, DefaultMaxMounts)
	}
	return nil
}
