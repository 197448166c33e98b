package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/release"
	"github.com/left4me/left4me-deploy/remote"
)

func rollbackCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "put the previous release back on each host (the migration is never undone)",
		UsageText: "left4me-deploy rollback [ssh flags] [--dry-run] [--diff] [--json] [--hosts FILE] user@host[:port]...\n" +
			"left4me-deploy rollback --local [--root DIR] [--dry-run] [--diff] [--json]",
		Description: "Each deploy that changes a host keeps its binaries and artifacts there (the last " + fmt.Sprint(release.Kept) + " releases, in " + release.Dir + ").\n" +
			"rollback runs the previous release's own installer over them: the same steps and checks as a deploy, restarting only what changed.\n" +
			"Running it again changes nothing. The fuse-overlayfs migration is never undone: its sentinel stays.",
		Flags: append(append(append(sshFlags(), hostFlags()...), rolloutFlags()...),
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "report what would change, change nothing"},
			&cli.BoolFlag{Name: "diff", Usage: "show a diff of every file that changes (or would)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON event per line"},
			&cli.BoolFlag{Name: "local", Usage: "roll back this machine instead of hosts over ssh"},
		),
		Action: func(c *cli.Context) error {
			if c.Bool("local") {
				return rollbackLocal(c, e)
			}
			r, err := rolloutFrom(c)
			if err != nil {
				return exitError{2, err.Error()}
			}
			out := &remote.Printer{W: e.Stdout, JSON: c.Bool("json")}
			d, targets, err := hostDeployer(c, out, remote.ApplyFlags{DryRun: c.Bool("dry-run"), Diff: c.Bool("diff"), Rollback: true})
			if err != nil {
				return exitError{2, err.Error()}
			}
			return rollout(c, e, d, out, targets, r, "rollback")
		},
	}
}
