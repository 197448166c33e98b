//go:build linux

package svchelper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"golang.org/x/sys/unix"
)

// follow runs argv (journalctl ... -f) as a child that ends when its caller
// ends, within a lifetime cap, in one of a host-wide number of slots; see
// FollowLimits. It returns the exit status.
func follow(prog string, argv, env []string, getenv Getenv, stderr io.Writer) int {
	lim := followLimits(getenv)
	// The caller is sudo: the helper dies with it (parent-death signal),
	// and a parent already gone before that was set is seen here.
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		fmt.Fprintf(stderr, "%s: set parent-death signal: %v\n", prog, err)
		return ExitExecFailed
	}
	if os.Getppid() != ppid {
		fmt.Fprintf(stderr, "%s: its caller ended\n", prog)
		return ExitExecFailed
	}
	slot, err := takeSlot(lim)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ExitExecFailed
	}
	defer slot.Close()

	// The child's parent-death signal is tied to the thread that started
	// it: keep this goroutine on that thread until the end.
	runtime.LockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: run %s: %v\n", prog, argv[0], err)
		return ExitExecFailed
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	life := time.NewTimer(lim.Lifetime)
	defer life.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	stop := func() int {
		cmd.Process.Kill()
		<-done
		return ExitExecFailed
	}
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			if err != nil {
				return ExitExecFailed
			}
			return 0
		case <-sigs:
			return stop()
		case <-tick.C:
			if os.Getppid() != ppid {
				return stop()
			}
		case <-life.C:
			fmt.Fprintf(stderr, "%s: follow ended after %v, the longest one follow runs; start it again to go on\n", prog, lim.Lifetime)
			return stop()
		}
	}
}

// takeSlot takes one of lim.Max follow slots: an flock on a file in a
// root-only directory, released when the returned file closes (also when
// the helper dies).
func takeSlot(lim FollowLimits) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(lim.Dir), 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mkdir(lim.Dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("make %s: %w", lim.Dir, err)
	}
	dir, err := fsat.OpenTrusted(lim.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	st, err := fsat.Stat(dir.FD(), "")
	if err != nil {
		return nil, err
	}
	if st.UID != uint32(os.Geteuid()) || st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("refused %s: it must be root's, mode 0700", lim.Dir)
	}
	for i := range lim.Max {
		fd, err := fsat.OpenRaw(dir.FD(), "slot-"+strconv.Itoa(i), unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600, 0)
		if err != nil {
			return nil, fmt.Errorf("open a slot in %s: %w", lim.Dir, err)
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			return os.NewFile(uintptr(fd), lim.Dir), nil
		}
		unix.Close(fd)
	}
	return nil, fmt.Errorf("%d follows (-f) are running on this host already, the most there may be at once; end one (or follow without -f) and try again", lim.Max)
}
