//go:build linux

package daytwo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
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

// RunRollback puts the previous release back on this machine: it runs the
// kept installer of that release over its kept binaries, so the old plan
// renders the old artifacts and goes through every step and check of a
// deploy. The migration is never undone. a carries what the kept installer
// is run with (HostArgs.ApplyFlags); with asJSON it answers in JSON lines,
// its summary naming the release the host then runs. The error is the
// installer's *exec.ExitError when it ran and failed, else the reason
// nothing ran.
func RunRollback(ctx context.Context, o deploy.Options, a protocol.HostArgs, asJSON bool, stdout, stderr io.Writer) error {
	emit := o.Emit
	rb, err := PreviousRelease(o.Root)
	if err != nil {
		if asJSON {
			NoteRunning(o) // the release the host stays on
		}
		emit(steps.Event{Type: steps.EventStep, Step: "rollback", Status: steps.StatusFailed, Reason: err.Error() + "; nothing changed"})
		emit(steps.Event{Type: steps.EventSummary, Failed: 1})
		return fmt.Errorf("%w; nothing changed", err)
	}
	t := rb.Target
	if asJSON {
		emit(steps.Event{Type: steps.EventLog, Step: "release", Reason: rb.Current.Describe()})
		if o.OnRelease != nil {
			o.OnRelease(rb.Current.ID)
		}
	}
	emit(steps.Event{Type: steps.EventLog, Step: "rollback", Reason: fmt.Sprintf("from release %s, version %s, back to %s", rb.Current.ID, rb.Current.Version, t.Describe())})
	emit(steps.Event{Type: steps.EventLog, Step: "rollback", Reason: "the migration is not undone: the sentinel stays and the upper dirs keep the kernel format"})
	bin := filepath.Join(rb.Dir, "bin")
	args := append([]string{"apply", "--local", "--bin-dir", bin, "--record-kind", release.KindRollback, "--record-from", rb.Current.ID}, a.ApplyFlags()...)
	if asJSON {
		args = append(args, "--json")
	}
	// An installer from before the lock moved to root's own directory
	// locks in the 1777 /run/lock: what another user planted there must
	// not refuse or hang it.
	if err := ClaimLegacyLock(o.Root); err != nil {
		return fmt.Errorf("%w; nothing changed", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, steps.DeployBinary), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stderr
	if asJSON {
		out := protocol.SummaryRelease(stdout, t.ID, rb.Current.ID)
		defer out.Flush()
		cmd.Stdout = out
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee
		}
		return fmt.Errorf("run the installer of release %s: %w", t.ID, err)
	}
	return nil
}

// NoteRunning tells a JSON reader (the workstation over ssh) the release
// the host runs before the plan starts: as a line for the reader, and on
// the summary (Options.OnRelease), so a run that fails before its release
// step still names the release the host is left on. The release step
// replaces it.
func NoteRunning(o deploy.Options) {
	if last, err := release.Last(o.Root); err == nil && last != nil {
		o.Emit(steps.Event{Type: steps.EventLog, Step: "release", Reason: last.Describe()})
		if o.OnRelease != nil {
			o.OnRelease(last.ID)
		}
	}
}
