package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func applyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "run the install plan on this machine",
		Action: func(*cli.Context) error {
			return errors.New("apply: not implemented yet")
		},
	}
}

func renderCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "write the files the installer would install as a tree under DIR",
		ArgsUsage: "DIR",
		Action: func(*cli.Context) error {
			return errors.New("render: not implemented yet")
		},
	}
}
