//go:build linux

package daytwo

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// LegacyDeployLock is where installers before hostpath.DeployRunDir took
// the deploy lock: in the 1777 /run/lock, where any user can make the
// file first. A rollback may run such an installer.
const LegacyDeployLock = "/run/lock/left4me-deploy.lock"

// ClaimLegacyLock makes LegacyDeployLock (joined onto root) a root-only
// (0600) empty regular file before a rollback runs a kept installer that
// may still lock there, so that what another user left there (a file with
// a forged holder line and an flock held on it, a FIFO) can neither refuse
// nor hang that installer: anything there that is not a root-owned 0600
// regular file is removed (root may, in the sticky directory) and the file
// made anew with O_EXCL, at most a bounded number of times if someone keeps
// racing to make it first. Without /run/lock there is nothing to claim.
func ClaimLegacyLock(root hostpath.Root) error {
	dir := root.Join("/run/lock")
	d, err := fsat.OpenTrusted(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	const name = "left4me-deploy.lock"
	path := root.Join(LegacyDeployLock)
	for range 64 {
		st, err := fsat.Stat(d.FD(), name)
		switch {
		case err == nil && st.IsReg() && st.UID == 0 && st.Mode&0o077 == 0:
			return nil // root's own, made here before
		case err == nil:
			if err := fsat.Unlink(d.FD(), name); err != nil && !errors.Is(err, unix.ENOENT) {
				return &os.PathError{Op: "remove", Path: path, Err: err}
			}
		case !errors.Is(err, unix.ENOENT):
			return &os.PathError{Op: "stat", Path: path, Err: err}
		}
		fd, err := fsat.OpenRaw(d.FD(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, 0)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "create", Path: path, Err: err}
		}
		f := fsat.NewDir(fd, path)
		if err := unix.Fchmod(fd, 0o600); err != nil {
			f.Close()
			return &os.PathError{Op: "chmod", Path: path, Err: err}
		}
		return f.Close()
	}
	return fmt.Errorf("%s: another user keeps making it first; find who (fuser -v %s) and run again", path, path)
}
