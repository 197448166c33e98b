//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// enter unshares the thread's fs attributes (setns into a mount namespace
// requires it, and it keeps fchdir private to this thread), enters the
// target namespace, and only then opens the tree: every path is resolved in
// the namespace the mount lands in.
func (s *session) enter() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	ns := s.cfg.MountNS
	if ns == "" {
		ns = DefaultMountNS
	}
	if ns != CurrentMountNS {
		fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open mount namespace %s: %w (the helper runs as root, through sudo)", ns, err)
		}
		err = unix.Setns(fd, unix.CLONE_NEWNS)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("enter mount namespace %s: %w (needs root with CAP_SYS_ADMIN and CAP_SYS_CHROOT: run it through sudo, from a unit without NoNewPrivileges= or a narrowed CapabilityBoundingSet=)", ns, err)
		}
	}
	root, err := fsat.OpenTrusted("/", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	s.root = s.keep(root.Release())
	s.tree = s.root
	if !s.cfg.Root.IsHost() {
		// The test root itself is trusted (it is only honoured outside sudo).
		tree, err := fsat.OpenTrusted(string(s.cfg.Root), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("open %s %s: %w", EnvRoot, s.cfg.Root, errors.Unwrap(err))
		}
		s.tree = s.keep(tree.Release())
	}
	s.state, err = s.openDir(s.tree, strings.TrimPrefix(hostpath.StateDir, "/"), hostpath.StateDir)
	if err != nil {
		return err
	}
	// The whole hostile tree must be on one mount of a local file system:
	// the state root's type is checked here (without calling into it, so a
	// FUSE file system mounted over it by its owner cannot hold the helper),
	// and every lookup below it refuses to cross a mount (RESOLVE_NO_XDEV).
	if err := fsat.CheckLocalFS(s.state, hostpath.StateDir, "state root"); err != nil {
		return err
	}
	st, err := fsat.Stat(s.state, "")
	if err != nil {
		return fmt.Errorf("stat %s: %w", hostpath.StateDir, err)
	}
	s.stateUID = st.UID
	return nil
}
