//go:build !linux

package main

import "github.com/urfave/cli/v2"

// status --local and rollback --local run on the Linux host only.

func localStatus(*cli.Context, *env) error {
	return exitError{code: 2, msg: "status --local runs on the Linux host; from this workstation use: left4me-deploy status user@host"}
}

func rollbackLocal(*cli.Context, *env) error {
	return exitError{code: 2, msg: "rollback --local runs on the Linux host; from this workstation use: left4me-deploy rollback user@host"}
}
