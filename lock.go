//go:build linux

package deploy

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/rootdir"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// ErrLocked is returned when another deploy holds the lock.
var ErrLocked = errors.New("another left4me-deploy is running on this host")

// lockHolderMax caps the holder text read back from the lock file.
const lockHolderMax = 4 << 10

// deployLock is an exclusive flock on the lock file, held for the whole
// run. The kernel drops it when the process dies, so a crashed deploy never
// leaves a stale lock; the file's text only names the holder for the next
// one's error message.
//
// The file lives in root's own hostpath.DeployRunDir (rootdir.Open), so no
// other user can plant it, hold a lock on it or make it a FIFO; it is opened
// relative to that directory's fd, without following a link and without
// waiting, and the holder text is read from the fd already open, capped.
type deployLock struct{ fd int }

func acquireLock(root hostpath.Root, command string) (*deployLock, error) {
	dir, err := rootdir.Open(root, hostpath.DeployRunDir)
	if err != nil {
		return nil, fmt.Errorf("the deploy lock's directory: %w", err)
	}
	defer dir.Close()
	path := root.Join(hostpath.DeployLock)
	name := hostpath.DeployLock[len(hostpath.DeployRunDir)+1:]
	fd, err := fsat.OpenRaw(dir.FD(), name, unix.O_RDWR|unix.O_CREAT|unix.O_NONBLOCK|unix.O_NOCTTY, 0o600, 0)
	if err != nil {
		return nil, fmt.Errorf("open the deploy lock %s (apply runs as root): %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		if err == nil {
			err = fmt.Errorf("not a regular file (mode %#o); remove it", st.Mode)
		}
		return nil, fmt.Errorf("the deploy lock %s: %w", path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := fsat.ReadSmallFD(fd, path, lockHolderMax)
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			h := textsafe.Line(strings.TrimSpace(string(holder)))
			if h == "" {
				h = "holder unknown"
			}
			return nil, fmt.Errorf("%w: lock %s is held by %s; wait for it to finish", ErrLocked, path, h)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	who := "uid " + fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if command == "" {
		command = strings.Join(os.Args, " ")
	}
	info := fmt.Sprintf("pid %d, user %s, started %s, command %q\n", os.Getpid(), who, time.Now().UTC().Format(time.RFC3339), command)
	if err := unix.Ftruncate(fd, 0); err == nil {
		unix.Pwrite(fd, []byte(info), 0)
	}
	return &deployLock{fd: fd}, nil
}

func (l *deployLock) release() {
	unix.Ftruncate(l.fd, 0)
	unix.Flock(l.fd, unix.LOCK_UN)
	unix.Close(l.fd)
}
