//go:build linux

package daytwo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/release"
	"github.com/left4me/left4me-deploy/steps"
)

// ErrRecordMismatch means the installed files are not what the newest
// release record says.
var ErrRecordMismatch = errors.New("installed files differ from the release record")

// Rollback names the release a rollback puts back and the one it replaces.
type Rollback struct {
	// Target is the release to install again; Dir keeps its files.
	Target release.Release
	Dir    string
	// Current is the release the last deploy installed.
	Current release.Release
}

// PreviousRelease finds the rollback target under root (release.Previous)
// and checks that its kept files are present and intact. The target is
// computed from the history, so the history must say what is installed:
// when the installed files differ from the newest record (an interrupted
// deploy, a change by hand) it refuses, and a deploy records them first.
func PreviousRelease(root hostpath.Root) (Rollback, error) {
	hist, err := release.ReadHistory(root)
	if err != nil {
		return Rollback{}, err
	}
	if len(hist) > 0 {
		newest := hist[len(hist)-1]
		mismatch, err := RecordMismatch(root, newest)
		if err != nil {
			return Rollback{}, err
		}
		if mismatch != "" {
			return Rollback{}, fmt.Errorf("%w: the installed files are not the newest recorded release, so \"previous\" is unknown: %s; run a deploy (it records what is installed) or put release %s back by hand, then roll back", ErrRecordMismatch, mismatch, newest.ID)
		}
	}
	var rb Rollback
	rb.Target, rb.Current, err = release.Previous(hist)
	if err != nil {
		return rb, err
	}
	rb.Dir = filepath.Join(root.Join(steps.ReleasesDir), rb.Target.ID)
	if err := VerifyKept(rb.Dir, rb.Target); err != nil {
		return rb, fmt.Errorf("release %s (%s) is not kept intact on this host any more, cannot roll back to it: %w", rb.Target.ID, rb.Target.Version, err)
	}
	return rb, nil
}

// VerifyKept checks that dir holds every file of r with its recorded
// checksum, and the installer that deployed it.
func VerifyKept(dir string, r release.Release) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "open", Path: dir, Err: errors.New("not a directory")}
	}
	want := map[string]string{filepath.Join(dir, "bin", steps.DeployBinary): r.Deployer}
	for p, sum := range r.Files {
		want[steps.KeptPath(dir, p)] = sum
	}
	for p, sum := range want {
		got, err := release.FileSHA256(p)
		if err != nil {
			return err
		}
		if got != sum {
			return fmt.Errorf("%s: sha256 %s, recorded %s", p, got[:12], sum[:12])
		}
	}
	return nil
}
