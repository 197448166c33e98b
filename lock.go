//go:build linux

package deploy

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned when another deploy holds the lock.
var ErrLocked = errors.New("another left4me-deploy is running on this host")

// deployLock is an exclusive flock on the lock file, held for the whole
// run. The kernel drops it when the process dies, so a crashed deploy never
// leaves a stale lock; the file's text only names the holder for the next
// one's error message.
type deployLock struct{ f *os.File }

func acquireLock(path, command string) (*deployLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the deploy lock %s (apply runs as root): %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "holder unknown"
			}
			return nil, fmt.Errorf("%w: lock %s is held by %s; wait for it to finish", ErrLocked, path, h)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	name := "uid " + fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if command == "" {
		command = strings.Join(os.Args, " ")
	}
	info := fmt.Sprintf("pid %d, user %s, started %s, command %q\n", os.Getpid(), name, time.Now().UTC().Format(time.RFC3339), command)
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &deployLock{f: f}, nil
}

func (l *deployLock) release() {
	l.f.Truncate(0)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}
