//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
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
			daytwo.NoteRunning(o)
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

// localRollback runs daytwo.RunRollback and gives its exit status: the
// kept installer's own, or 1 with the reason.
func localRollback(ctx context.Context, e *env, o deploy.Options, a protocol.HostArgs, asJSON bool) error {
	err := daytwo.RunRollback(ctx, o, a, asJSON, e.Stdout, e.Stderr)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return exitError{ee.ExitCode(), ""}
	}
	return exitError{1, "rollback: " + err.Error()}
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
