//go:build linux

package main

import (
	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/migrate"
)

func migrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "convert fuse-overlayfs upper dirs to kernel overlayfs (sentinel-gated)",
		UsageText: "left4me-deploy migrate [--root DIR] [-n|--dry-run] [--json] [--reset-upper] [-v]",
		Flags: append(migrateRoot(flags("root", "dry-run", "json", "verbose")),
			boolFlag("reset-upper", "", "instead of converting, move each upper/ aside to upper.pre-kernel-overlay.N and start empty")),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage(c, "migrate takes no arguments, got %q", c.Args().Slice())
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
					rep.WriteText(e.Stdout, set(c, "verbose").Bool("verbose"))
				}
			}
			return err
		},
	}
}

// migrateRoot makes migrate's --root also read the environment, as the
// mount helper's tests and staging trees set it.
func migrateRoot(fs []cli.Flag) []cli.Flag {
	fs[0].(*cli.StringFlag).EnvVars = []string{hostpath.RootEnv}
	return fs
}
