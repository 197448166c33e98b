//go:build linux

package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/service"
)

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
func (d *deployer) webDependencies() []string {
	var paths []string
	for _, b := range binaryNames {
		paths = append(paths, b.dest)
	}
	return append(paths, hostpath.SudoersFile, hostpath.UnitDir+"/"+hostpath.WebUnit, hostpath.WebExecFile)
}

// observer is the service manager's Observer, nil when it has none or
// services are not live.
func (d *deployer) observer() service.Observer {
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
func staleUnits(ctx context.Context, obs service.Observer, o Options) ([]string, error) {
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
