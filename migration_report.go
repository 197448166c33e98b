//go:build linux

package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/migrate"
	"github.com/left4me/left4me-deploy/steps"
)

// keepMigrationReport writes root's own copy of a migration run's report
// (hostpath.DeployMigrationReport, in root's 0700 directory) when the run
// did or tried something, so status reads root's file, not the copy in the
// state root that its owner can replace. A failure to write it is logged:
// the state root's copy still says what happened.
func (d *deployer) keepMigrationReport(g *steps.Gate, dryRun bool, rep *migrate.Report) {
	if dryRun || d.rendering || rep == nil || rep.Skipped {
		return
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		f := steps.File{Path: d.path(hostpath.DeployMigrationReport), Data: append(b, '\n'), Mode: 0o600, Owner: d.rootOwner()}
		err = f.Write(nil)
	}
	if err != nil {
		g.Log("could not keep the migration report in %s: %v", hostpath.DeployMigrationReport, err)
	}
}

// readMigrationReport returns the last migration report: root's own copy
// when there is one, else (a host migrated before root kept one) the state
// root's, read through fsat (ReadSmall: no link, no mount crossed, no
// FIFO, at most stateFileMax). Both are capped; ok is false when there is
// none.
func readMigrationReport(root hostpath.Root) (b []byte, ok bool, err error) {
	own := root.Join(hostpath.DeployMigrationReport)
	dirfd, err := unix.Open(filepath.Dir(own), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		b, err = fsat.ReadSmall(dirfd, filepath.Base(own), own, stateFileMax)
		unix.Close(dirfd)
		if err == nil {
			return b, true, nil
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	sfd, err := openStateRoot(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	defer unix.Close(sfd)
	b, err = fsat.ReadSmall(sfd, filepath.Base(migrate.ReportFile), root.Join(migrate.ReportFile), stateFileMax)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w (the state root's copy; root keeps none)", err)
	}
	return b, true, nil
}
