package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
)

func rollbackCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "put the previous release back on each host (the migration is never undone)",
		UsageText: "left4me-deploy rollback [ssh flags] [-n|--dry-run] [--diff] [--json] [--bundle DIR] [--parallel N] [--serial N] [--canary] [--max-fail K] [--hosts FILE] [--limit GROUP|PATTERN] user@host[:port]...\n" +
			"left4me-deploy rollback --local [--root DIR] [-n|--dry-run] [--diff] [--json]",
		Description: "Each deploy that changes a host keeps its binaries and artifacts there (the last " + fmt.Sprint(release.Kept) + " releases, in " + release.Dir + ").\n" +
			"rollback runs the previous release's own installer over them: the same steps and checks as a deploy, restarting only what changed.\n" +
			"Running it again changes nothing. The fuse-overlayfs migration is never undone: its sentinel stays.",
		Flags: flags(join(sshFlagNames, []string{"dry-run", "diff", "json", "local"}, hostFlagNames, rolloutFlagNames, verboseFlagNames)...),
		Action: func(c *cli.Context) error {
			if c.Bool("local") {
				return rollbackLocal(c, e)
			}
			r, err := rolloutFrom(c)
			if err != nil {
				return usage(c, "%v", err)
			}
			out := printer(c, e, e.Stdout, c.Bool("json"))
			d, targets, err := hostDeployer(c, out, protocol.HostArgs{Verb: protocol.VerbRollback, DryRun: c.Bool("dry-run"), Diff: c.Bool("diff")})
			if err != nil {
				return usage(c, "%v", err)
			}
			return rollout(c, e, d, out, targets, r, "rollback")
		},
	}
}
