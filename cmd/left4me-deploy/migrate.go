//go:build linux

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/migrate"
	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/service"
)

func migrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "convert fuse-overlayfs upper dirs to kernel overlayfs (sentinel-gated)",
		UsageText: "left4me-deploy migrate [--root DIR] [--dry-run] [--json] [--reset-upper]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "work on the left4me tree under `DIR`; service stops and starts are only reported", EnvVars: []string{hostpath.RootEnv}},
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would change and change nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON, every changed path included"},
			&cli.BoolFlag{Name: "reset-upper", Usage: "instead of converting, move each upper/ aside to upper.pre-kernel-overlay.N and start empty"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "list every changed path in the text report"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("migrate takes no arguments, got "+c.Args().First(), 2)
			}
			opts := migrate.Options{
				Root:       hostpath.Root(c.String("root")),
				DryRun:     c.Bool("dry-run"),
				ResetUpper: c.Bool("reset-upper"),
				Services:   service.Systemctl{Runner: runner.Exec{}},
			}
			if !c.Bool("json") {
				opts.Log = e.Stderr
			}
			rep, err := migrate.Run(c.Context, opts)
			if rep != nil {
				if c.Bool("json") {
					b, jerr := rep.JSON()
					if jerr != nil {
						return jerr
					}
					e.Stdout.Write(b)
				} else {
					rep.WriteText(e.Stdout, c.Bool("verbose"))
				}
			}
			return err
		},
	}
}
