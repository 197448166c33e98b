//go:build linux

package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
)

// stateFileMax caps what root reads of a file in the state root (the
// migration report): the owner can make a file of any apparent size.
const stateFileMax = 8 << 20

// OpenStateRoot opens the state root (joined onto root) as an O_PATH
// handle for root's own reads below it, which then go through internal/fsat
// relative to it (no link followed, no mount crossed). Its entry is looked
// up in the root-owned /var/lib without following a link; what is mounted
// on it may be the state root's own bind mount or a disk the operator
// mounted there, but never a FUSE mount: that can only be its owner's
// (fusermount3), and every answer below it would come from the owner's
// daemon, or never come.
func OpenStateRoot(root hostpath.Root) (*fsat.Dir, error) {
	dir := root.Join(hostpath.StateDir)
	parent, err := fsat.OpenTrusted(filepath.Dir(dir), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	state, err := parent.OpenDir(filepath.Base(dir), 0)
	if err != nil {
		return nil, err
	}
	if err := notOwnerMount(state.FD(), dir); err != nil {
		state.Close()
		return nil, err
	}
	return state, nil
}

// stateRootExists reports whether the state root is there (as a directory
// that is not a FUSE mount), looked up without following a link.
func stateRootExists(root hostpath.Root) bool {
	state, err := OpenStateRoot(root)
	if err != nil {
		return false
	}
	state.Close()
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

// The follow-ups of a change (a daemon-reload, the web app's restart) are
// derived from the host's state as well as from the pending-restart record
// written before the change: a run killed between a change and its
// follow-up leaves a state the next run (and status) can see.

// observations are what a run's steps learnt from systemd, kept so that
// status asks once.
type observations struct {
	staleUnits    []string
	staleUnitsSet bool
	webStale      string
	webStaleSet   bool
}

// webDependencies are the installed files the web app runs with: when one
// changed after its main process started, it runs older files than those
// installed.
func (d *Host) webDependencies() []string {
	var paths []string
	for _, b := range Programs {
		paths = append(paths, b.Dest)
	}
	return append(paths, hostpath.SudoersFile, hostpath.UnitDir+"/"+hostpath.WebUnit, hostpath.WebExecFile)
}

// observer is the service manager's Observer, nil when it has none or
// services are not live.
func (d *Host) observer() service.Observer {
	if !d.o.Live.Services {
		return nil
	}
	obs, _ := d.o.Services.(service.Observer)
	return obs
}

// webStale says which installed file the running web app is older than
// ("" when it is not running or runs what is installed): the newest
// modification time of its dependencies against the start of its main
// process.
func webStale(ctx context.Context, obs service.Observer, root hostpath.Root, deps []string) (string, error) {
	started, err := obs.MainStarted(ctx, hostpath.WebUnit)
	if err != nil {
		return "", fmt.Errorf("ask systemd when %s started: %w", hostpath.WebUnit, err)
	}
	if started.IsZero() {
		return "", nil
	}
	newest, which := time.Time{}, ""
	for _, p := range deps {
		ct, err := changeTime(root.Join(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if ct.After(newest) {
			newest, which = ct, p
		}
	}
	if which == "" || !newest.After(started) {
		return "", nil
	}
	return fmt.Sprintf("%s changed at %s, after %s started at %s", which, newest.UTC().Format(time.RFC3339), hostpath.WebUnit, started.UTC().Format(time.RFC3339)), nil
}

// changeTime is when the content of the file at p last changed: its
// mtime, which a write sets and a rename into place keeps (the temporary
// file was written just before). The ctime would also move on a copy that
// keeps the content (a backup restored with cp -a) or a chmod.
func changeTime(p string) (time.Time, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// staleUnits lists the units the deploy installs that systemd holds loaded
// from an older file (NeedDaemonReload=yes): installed, not reloaded.
func staleUnits(ctx context.Context, obs service.Observer, o Config) ([]string, error) {
	rendered, err := artifacts.Render(artifacts.Params{User: o.User, Group: o.Group, WebExec: o.WebExec})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(rendered))
	for i, u := range rendered {
		names[i] = u.Name
	}
	return obs.NeedDaemonReload(ctx, names...)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isUnknown(err error) bool {
	var ue user.UnknownUserError
	var ge user.UnknownGroupError
	return errors.As(err, &ue) || errors.As(err, &ge)
}

// stateOwner is the owner of the state root: the user and group, looked up
// now (the accounts step may just have created them). ok is false when they
// do not exist on this machine; note says what happens instead.
func (d *Host) stateOwner(dryRun bool) (owner hostfile.Owner, note string, err error) {
	if !d.manageOwners {
		return hostfile.Unmanaged, "", nil
	}
	u, uerr := user.Lookup(d.o.User)
	grp, gerr := user.LookupGroup(d.o.Group)
	if uerr == nil && gerr == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(grp.Gid)
		return hostfile.Owner{UID: uid, GID: gid}, "", nil
	}
	for _, e := range []error{uerr, gerr} {
		if e != nil && !isUnknown(e) {
			return hostfile.Owner{}, "", fmt.Errorf("look up %s:%s: %w", d.o.User, d.o.Group, e)
		}
	}
	switch {
	case d.o.Live.Accounts && dryRun:
		return hostfile.Unmanaged, fmt.Sprintf("owner %s:%s once the accounts step created it", d.o.User, d.o.Group), nil
	case d.o.Live.Accounts:
		return hostfile.Owner{}, "", fmt.Errorf("user %s or group %s still missing after the accounts step", d.o.User, d.o.Group)
	}
	return hostfile.RootOwner, fmt.Sprintf("user %s does not exist on this machine; state dirs left owned by root", d.o.User), nil
}

func ownerString(o hostfile.Owner) string {
	if o.UID < 0 {
		return "(owner unmanaged)"
	}
	return fmt.Sprintf("%d:%d", o.UID, o.GID)
}
