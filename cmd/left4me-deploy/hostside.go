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

// hostCommand is "left4me-deploy host ARGS", hidden: what the workstation
// runs on a host over ssh (remote/root.sh runs the staged program with it,
// as root). ARGS is one protocol.HostArgs, which remote wrote; the
// workstation and this program are the same build, so nothing else ever
// writes it. It always answers in JSON.
func hostCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "host",
		Usage:     "run what the workstation asks of this host (remote/root.sh runs it over ssh)",
		ArgsUsage: "ARGS",
		Hidden:    true,
		Flags:     flags("bin-dir"),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "host takes one argument, the workstation's encoded protocol.HostArgs")
			}
			a, err := protocol.DecodeHostArgs(c.Args().First())
			if err != nil {
				return usage(c, "%v", err)
			}
			o := output(deploy.Options{
				Root:      hostpath.Root(a.Root),
				DryRun:    a.DryRun,
				Diff:      a.Diff,
				BinDir:    c.String("bin-dir"),
				User:      hostpath.User,
				WebExec:   a.WebExec,
				MaxMounts: a.MaxMounts,
				Release:   steps.ReleaseOptions{By: a.By},
				Command:   strings.Join(os.Args, " "),
			}, e, true)
			switch a.Verb {
			case protocol.VerbStatus:
				return hostStatus(c.Context, e, o)
			case protocol.VerbRollback:
				return localRollback(c.Context, e, o, a, true)
			}
			noteRunning(o)
			_, err = deploy.Apply(c.Context, o)
			return finish(err)
		},
	}
}

// rollbackFlags are apply's hidden flags for the release record: a
// rollback runs the kept installer of an older release as "apply --local"
// with them (localRollback), and the rollback of a later release runs this
// one the same way, so they keep their names from one release to the next.
func rollbackFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "by", Usage: "record `USER@HOST` as who deployed (default: the local user)", Hidden: true},
		&cli.StringFlag{Name: "record-kind", Usage: "kind of the release record (deploy or rollback)", Hidden: true},
		&cli.StringFlag{Name: "record-from", Usage: "release ID a rollback replaces", Hidden: true},
	}
}

// releaseOptions reads the release record flags.
func releaseOptions(c *cli.Context) (steps.ReleaseOptions, error) {
	r := steps.ReleaseOptions{By: c.String("by"), Kind: c.String("record-kind"), From: c.String("record-from")}
	switch r.Kind {
	case "", release.KindDeploy, release.KindRollback:
	default:
		return r, fmt.Errorf("--record-kind %q: want %s or %s", r.Kind, release.KindDeploy, release.KindRollback)
	}
	return r, nil
}

// hostStatus is the host verb's status: the host's report as one JSON line and the
// dry run's summary, exit 0 unless the dry run failed (the workstation
// decides what drift means).
func hostStatus(ctx context.Context, e *env, o deploy.Options) error {
	st, sum, err := daytwo.Status(ctx, o)
	w := protocol.NewWriter(e.Stdout)
	w.Status(st)
	w.Emit(sum)
	return finish(err)
}

// localRollback puts the previous release back on this machine: it runs the
// kept installer of that release over its kept binaries, so the old plan
// renders the old artifacts and goes through every step and check of a
// deploy. The migration is never undone.
// a carries what the kept installer is run with (HostArgs.ApplyFlags).
func localRollback(ctx context.Context, e *env, o deploy.Options, a protocol.HostArgs, asJSON bool) error {
	emit := o.Emit
	rb, err := daytwo.PreviousRelease(o.Root)
	if err != nil {
		if asJSON {
			noteRunning(o) // the release the host stays on
		}
		emit(steps.Event{Type: steps.EventStep, Step: "rollback", Status: steps.StatusFailed, Reason: err.Error() + "; nothing changed"})
		emit(steps.Event{Type: steps.EventSummary, Failed: 1})
		return exitError{1, "rollback: " + err.Error() + "; nothing changed"}
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
	if err := daytwo.ClaimLegacyLock(o.Root); err != nil {
		return exitError{1, "rollback: " + err.Error() + "; nothing changed"}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, steps.DeployBinary), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, e.Stdout, e.Stderr
	if asJSON {
		out := protocol.SummaryRelease(e.Stdout, t.ID, rb.Current.ID)
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

// localStatus is status --local.
func localStatus(c *cli.Context, e *env) error {
	o := deploy.Options{Root: hostpath.Root(c.String("root")), BinDir: c.String("bin-dir"), Command: strings.Join(os.Args, " ")}
	st, _, err := daytwo.Status(c.Context, o)
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
	o := output(deploy.Options{Root: hostpath.Root(c.String("root")), Command: strings.Join(os.Args, " ")}, e, c.Bool("json"))
	a := protocol.HostArgs{Verb: protocol.VerbRollback, Root: c.String("root"), DryRun: c.Bool("dry-run"), Diff: c.Bool("diff")}
	return localRollback(c.Context, e, o, a, c.Bool("json"))
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
