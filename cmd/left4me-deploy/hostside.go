//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/release"
	"github.com/left4me/left4me-deploy/steps"
)

// hostSideFlags are apply's flags for what the workstation asks of a host
// over SSH (remote.ApplyFlags): who deploys, and the status and rollback
// verbs, which run on the host through the same staged program as apply.
func hostSideFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "by", Usage: "record `USER@HOST` as who deployed (default: the local user)", Hidden: true},
		&cli.BoolFlag{Name: "status", Usage: "report the host's status as one JSON line instead of applying", Hidden: true},
		&cli.BoolFlag{Name: "rollback", Usage: "put the previous release back instead of applying this one", Hidden: true},
		&cli.StringFlag{Name: "record-kind", Usage: "kind of the release record (deploy or rollback)", Hidden: true},
		&cli.StringFlag{Name: "record-from", Usage: "release ID a rollback replaces", Hidden: true},
	}
}

// releaseOptions reads the release record flags.
func releaseOptions(c *cli.Context) (deploy.ReleaseOptions, error) {
	r := deploy.ReleaseOptions{By: c.String("by"), Kind: c.String("record-kind"), From: c.String("record-from")}
	switch r.Kind {
	case "", release.KindDeploy, release.KindRollback:
	default:
		return r, fmt.Errorf("--record-kind %q: want %s or %s", r.Kind, release.KindDeploy, release.KindRollback)
	}
	return r, nil
}

// hostStatus is apply --status: the host's report as one JSON line and the
// dry run's summary, exit 0 unless the dry run failed (the workstation
// decides what drift means).
func hostStatus(ctx context.Context, e *env, o deploy.Options) error {
	st, sum, err := deploy.Status(ctx, o)
	w := protocol.NewWriter(e.Stdout)
	w.Status(st)
	w.Emit(sum)
	return finish(err)
}

// localRollback puts the previous release back on this machine: it runs the
// kept installer of that release over its kept binaries, so the old plan
// renders the old artifacts and goes through every step and check of a
// deploy. The migration is never undone.
func localRollback(ctx context.Context, c *cli.Context, e *env, o deploy.Options) error {
	emit := o.Emit
	rb, err := deploy.PreviousRelease(o.Root)
	if err != nil {
		if c.Bool("json") {
			noteRunning(o) // the release the host stays on
		}
		emit(steps.Event{Type: steps.EventStep, Step: "rollback", Status: steps.StatusFailed, Reason: err.Error() + "; nothing changed"})
		emit(steps.Event{Type: steps.EventSummary, Failed: 1})
		return exitError{1, "rollback: " + err.Error() + "; nothing changed"}
	}
	t := rb.Target
	if c.Bool("json") {
		emit(steps.Event{Type: steps.EventLog, Step: "release", Reason: rb.Current.Describe()})
		if o.OnRelease != nil {
			o.OnRelease(rb.Current.ID)
		}
	}
	emit(steps.Event{Type: steps.EventLog, Step: "rollback", Reason: fmt.Sprintf("from release %s, version %s, back to %s", rb.Current.ID, rb.Current.Version, t.Describe())})
	emit(steps.Event{Type: steps.EventLog, Step: "rollback", Reason: "the migration is not undone: the sentinel stays and the upper dirs keep the kernel format"})
	bin := filepath.Join(rb.Dir, "bin")
	args := []string{"apply", "--local", "--bin-dir", bin, "--record-kind", release.KindRollback, "--record-from", rb.Current.ID}
	for _, f := range []string{"root", "web-exec", "user", "live", "by"} {
		if v := c.String(f); v != "" && c.IsSet(f) {
			args = append(args, "--"+f, v)
		}
	}
	for _, f := range []string{"dry-run", "diff", "json"} {
		if c.Bool(f) {
			args = append(args, "--"+f)
		}
	}
	// An installer from before the lock moved to root's own directory
	// locks in the 1777 /run/lock: what another user planted there must
	// not refuse or hang it.
	if err := deploy.ClaimLegacyLock(o.Root); err != nil {
		return exitError{1, "rollback: " + err.Error() + "; nothing changed"}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, deploy.DeployBinary), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, e.Stdout, e.Stderr
	if c.Bool("json") {
		out := summaryRelease(e.Stdout, t.ID, rb.Current.ID)
		defer out.Flush()
		cmd.Stdout = out
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitError{ee.ExitCode(), ""}
		}
		return exitError{1, fmt.Sprintf("rollback: run the installer of release %s: %v", t.ID, err)}
	}
	return nil
}

// hostSide dispatches apply's host-side verbs; ok is false for a plain
// apply.
func hostSide(c *cli.Context, e *env, o deploy.Options) (ok bool, err error) {
	if _, err := releaseOptions(c); err != nil {
		return true, usage(c, "%v", err)
	}
	switch {
	case c.Bool("status") && c.Bool("rollback"):
		return true, usage(c, "--status and --rollback exclude each other")
	case c.Bool("status"):
		return true, hostStatus(c.Context, e, o)
	case c.Bool("rollback"):
		return true, localRollback(c.Context, c, e, o)
	}
	return false, nil
}

// withRelease returns o with the release flags set.
func withRelease(c *cli.Context, o deploy.Options) deploy.Options {
	o.Release, _ = releaseOptions(c)
	return o
}

// localStatus is status --local.
func localStatus(c *cli.Context, e *env) error {
	o := deploy.Options{Root: hostpath.Root(c.String("root")), BinDir: c.String("bin-dir"), Command: strings.Join(os.Args, " ")}
	st, _, err := deploy.Status(c.Context, o)
	row := statusRow{Host: "localhost", Status: &st}
	if err != nil && len(st.Failed) == 0 {
		row.Error = err.Error()
	}
	row.Result = daytwo.Judge(row.Status, row.Error)
	return printStatus(e.Stdout, []statusRow{row}, c.Bool("json"))
}

// rollbackLocal is rollback --local.
func rollbackLocal(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return usage(c, "rollback --local takes no hosts")
	}
	o := deploy.Options{Root: hostpath.Root(c.String("root")), Command: strings.Join(os.Args, " ")}
	if c.Bool("json") {
		w := protocol.NewWriter(e.Stdout)
		o.Emit, o.OnRelease = w.Emit, w.SetRelease
	} else {
		o.Emit = steps.TextPrinter(e.Stdout)
	}
	return localRollback(c.Context, c, e, o)
}

// noteRunning tells a JSON reader (the workstation over ssh) the release
// the host runs before the plan starts: as a line for the reader, and on
// the summary (Options.OnRelease), so a run that fails before its release
// step still names the release the host is left on. The release step
// replaces it.
func noteRunning(o deploy.Options) {
	if last, err := release.Last(o.Root); err == nil && last != nil {
		o.Emit(steps.Event{Type: steps.EventLog, Step: "release", Reason: last.Describe()})
		if o.OnRelease != nil {
			o.OnRelease(last.ID)
		}
	}
}
