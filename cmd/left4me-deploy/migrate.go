package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func migrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "convert fuse-overlayfs upper dirs to kernel overlayfs (sentinel-gated)",
		Action: func(*cli.Context) error {
			return errors.New("migrate: not implemented yet")
		},
	}
}
