package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func remoteFlags() []cli.Flag { return nil }

func remoteAction(e *env) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return cli.ShowAppHelp(c)
		}
		return errors.New("deploy over SSH: not implemented yet")
	}
}
