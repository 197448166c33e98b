//go:build linux

package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/fsat"
)

// stateFileMax caps what root reads of a file in the state root (the
// migration report): the owner can make a file of any apparent size.
const stateFileMax = 8 << 20

// openStateRoot opens the state root (joined onto root) as an O_PATH
// handle for root's own reads below it, which then go through internal/fsat
// relative to it (no link followed, no mount crossed). Its entry is looked
// up in the root-owned /var/lib without following a link; what is mounted
// on it may be the state root's own bind mount or a disk the operator
// mounted there, but never a FUSE mount: that can only be its owner's
// (fusermount3), and every answer below it would come from the owner's
// daemon, or never come.
func openStateRoot(root hostpath.Root) (int, error) {
	dir := root.Join(hostpath.StateDir)
	pfd, err := unix.Open(filepath.Dir(dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: filepath.Dir(dir), Err: err}
	}
	defer unix.Close(pfd)
	fd, err := fsat.OpenDir(pfd, filepath.Base(dir), dir, 0)
	if err != nil {
		return -1, err
	}
	if err := notOwnerMount(fd, dir); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// stateRootExists reports whether the state root is there (as a directory
// that is not a FUSE mount), looked up without following a link.
func stateRootExists(root hostpath.Root) bool {
	fd, err := openStateRoot(root)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// notOwnerMount fails when the directory fd pins is on a FUSE mount (one
// the state root's owner can make with fusermount3), its root or inside
// it, so that root neither reads nor changes anything through it. It asks
// only statx (an empty request) and the mount table, never the file
// system.
func notOwnerMount(fd int, path string) error {
	id, _, err := fsat.MountAt(fd, "")
	if err != nil {
		return &os.PathError{Op: "statx", Path: path, Err: err}
	}
	m, _, ok, err := fsat.MountEntry(id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: the mount it is on (id %d) went away while looked at; run again", path, id)
	}
	if fsat.IsFUSE(m.FSType) {
		return fmt.Errorf("%s: %w", path, ownerMountError(m.FSType, m.Source))
	}
	return nil
}

// errOwnerMount is wrapped by the refusal to act through a FUSE mount.
var errOwnerMount = errors.New("it is on a FUSE mount")

func ownerMountError(fsType, source string) error {
	return fmt.Errorf("%w (type %q, source %q): only the state root's owner can have made it; root does not act through it (umount -l it)", errOwnerMount, fsType, source)
}
