//go:build linux

// Command left4me-overlay is the privileged mount helper: run as root
// through sudo, `left4me-overlay mount NAME` mounts the kernel overlay of
// instance NAME at /var/lib/left4me/runtime/NAME/merged in PID 1's mount
// namespace, and `left4me-overlay umount NAME` unmounts it. See docs/overlay-helper.md.
package main

import (
	"os"

	"github.com/left4me/left4me-deploy/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		version.Print(os.Stdout, "left4me-overlay")
		return
	}
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}
