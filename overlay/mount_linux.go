//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
)

// Errors the helper's callers may test for.
var (
	// ErrFuseFormat: the upper dir still carries fuse-overlayfs metadata.
	ErrFuseFormat = errors.New("upper dir is still in fuse-overlayfs format")
	// ErrForeignMount: something at merged is not an overlay this helper made.
	ErrForeignMount = errors.New("not an overlay left4me-overlay mounted")
	// ErrMoved: the instance's directories moved while the helper worked.
	ErrMoved = errors.New("instance directory changed during the operation")
	// ErrNotMigrated: the host's migration to the kernel format has not run.
	ErrNotMigrated = errors.New("not migrated to kernel overlayfs yet")
	// ErrBusy: another process held the instance's lock for LockWait.
	ErrBusy = errors.New("instance busy")
)

// LockWait bounds how long the helper waits for another helper's lock on
// the same instance directory before it gives up with ErrBusy.
const LockWait = 5 * time.Second

// Result says what Mount or Unmount did.
type Result struct {
	Changed bool   // a mount was made or removed
	Message string // one line for the operator
	Plan    *Plan  // set in print-only mode
}

// Mount mounts the overlay of instance name at runtime/NAME/merged in the
// configured mount namespace. An overlay this helper made that is already
// mounted there is success without a change.
func (c Config) Mount(name string) (Result, error) {
	return c.run(name, "mount", (*session).mount)
}

// Unmount unmounts the overlay of instance name from runtime/NAME/merged. An
// instance that is not mounted is success without a change; anything mounted
// there that this helper did not make is refused.
func (c Config) Unmount(name string) (Result, error) {
	return c.run(name, "umount", (*session).unmount)
}

func (c Config) run(name, verb string, fn func(*session, string) (Result, error)) (Result, error) {
	if err := instance.ValidateName(name); err != nil {
		return Result{}, err
	}
	method, err := c.method()
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", verb, name, err)
	}
	type out struct {
		res Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		// The goroutine keeps its OS thread locked until it returns, so the
		// Go runtime terminates that thread instead of reusing it: the
		// namespace and cwd changes below die with it and no other goroutine
		// ever runs in them.
		runtime.LockOSThread()
		s := &session{cfg: c, method: method, root: -1, tree: -1, state: -1}
		var res Result
		err := s.enter()
		if err == nil {
			res, err = fn(s, name)
		}
		// Close before answering: the handle on a fresh mount would keep it
		// busy for a caller that unmounts at once, and the lock is released.
		s.closeAll()
		ch <- out{res, err}
	}()
	o := <-ch
	if o.err != nil {
		return o.res, fmt.Errorf("%s %s: %w", verb, name, o.err)
	}
	return o.res, nil
}

// session is one helper run on its own locked OS thread. Every fd it opens
// is closed when it ends.
type session struct {
	cfg      Config
	method   Method
	root     int // "/" of the target namespace
	tree     int // Config.Root in the target namespace (== root on the host)
	state    int // the state root, /var/lib/left4me
	stateUID uint32
	fds      []int
}

func (s *session) keep(fd int) int { s.fds = append(s.fds, fd); return fd }

// closeAll closes the session's fds, newest first: the instance lock,
// taken early, is released only once every handle on the instance and its
// mount is gone, so the next holder never finds the mount busy with them.
func (s *session) closeAll() {
	for i := len(s.fds) - 1; i >= 0; i-- {
		unix.Close(s.fds[i])
	}
	s.fds = nil
}

func (s *session) host(rel string) string { return hostpath.StateDir + "/" + rel }

// prepare pins and checks everything Mount needs.
func (s *session) prepare(name string) (*instanceFDs, *Plan, error) {
	in, err := s.openInstance(name)
	if err != nil {
		return nil, nil, err
	}
	layers, err := s.readLayers(in)
	if err != nil {
		return nil, nil, err
	}
	if err := s.openOverlayDirs(in); err != nil {
		return nil, nil, err
	}
	plan := &Plan{Name: name, Method: s.method, Source: Source(name), Merged: in.mergedHost, Upper: in.upperHost, Work: in.workHost, Layers: layers}
	in.mountID, in.mountRoot, _, err = statxMount(in.merged, "")
	if err != nil {
		return nil, nil, fmt.Errorf("statx %s: %w", in.mergedHost, err)
	}
	if in.mountRoot {
		why, err := ours(in.merged, in.mountID, name, true)
		if err != nil {
			return nil, nil, fmt.Errorf("inspect mount at %s: %w", in.mergedHost, err)
		}
		if why != "" {
			return nil, nil, fmt.Errorf("refused %s: something is mounted there and %s (%w)", in.mergedHost, why, ErrForeignMount)
		}
		if err := s.checkOwner(in.merged, in.mergedHost); err != nil {
			return nil, nil, err
		}
		plan.Mounted = true
		return in, plan, nil
	}
	if err := s.checkMigrated(); err != nil {
		return nil, nil, err
	}
	if err := s.checkNotFuse(in); err != nil {
		return nil, nil, err
	}
	if err := s.openLayers(in, layers); err != nil {
		return nil, nil, err
	}
	return in, plan, nil
}

func (s *session) mount(name string) (Result, error) {
	in, plan, err := s.prepare(name)
	if err != nil {
		return Result{}, err
	}
	if s.cfg.PrintOnly {
		return Result{Plan: plan, Message: "print only: nothing mounted"}, nil
	}
	if plan.Mounted {
		return Result{Message: fmt.Sprintf("%s is already mounted at %s (umount it first to pick up layer changes)", name, in.mergedHost)}, nil
	}
	if err := s.checkMountCap(); err != nil {
		return Result{}, err
	}
	switch s.method {
	case MethodFD, MethodLowerdirPlus:
		err = s.mountNewAPI(in)
		if errors.Is(err, errNewAPIUnavailable) && s.cfg.Method == MethodAuto {
			// A seccomp filter (some container managers, older systemd
			// unit sandboxes) may hide fsopen from a kernel that has it.
			s.method = MethodLegacy
			err = s.mountLegacy(in)
		}
	case MethodLegacy:
		err = s.mountLegacy(in)
	default:
		err = fmt.Errorf("mount method %v not implemented", s.method)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Changed: true, Message: fmt.Sprintf("mounted %s at %s (%d layers, method %s)", name, in.mergedHost, len(in.layers), s.method)}, nil
}
