//go:build !linux

package main

import "github.com/urfave/cli/v2"

// On a workstation that is not Linux (macOS), left4me-deploy only deploys
// over SSH; the host-side commands exist so that help lists them, and say
// where they run.

func applyCommand(*env) *cli.Command {
	return linuxOnly("apply", "run the install plan on this machine")
}
func renderCommand(*env) *cli.Command {
	return linuxOnly("render", "write the files the installer would install as a tree under DIR")
}
func migrateCommand(*env) *cli.Command {
	return linuxOnly("migrate", "convert fuse-overlayfs upper dirs to kernel overlayfs")
}

func hostCommand(*env) *cli.Command {
	c := linuxOnly("host", "run what the workstation asks of this host")
	c.Hidden = true
	return c
}

func linuxOnly(name, usage string) *cli.Command {
	return &cli.Command{
		Name:            name,
		Usage:           usage + " (Linux hosts only)",
		SkipFlagParsing: true,
		Action: func(*cli.Context) error {
			return exitError{code: 2, msg: name + " runs on the Linux host; from this workstation use: left4me-deploy [flags] user@host"}
		},
	}
}
