//go:build linux

// Command left4me-overlay is the privileged mount helper: run as root
// through sudo, `left4me-overlay mount NAME` mounts the kernel overlay of
// instance NAME at /var/lib/left4me/runtime/NAME/merged in PID 1's mount
// namespace, and `left4me-overlay umount NAME` unmounts it. See docs/overlay-helper.md.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		version.Print(os.Stdout, "left4me-overlay")
		return
	}
	// sudo relays to the helper the signals its caller sends to sudo, and
	// the caller is the unprivileged user the helper guards against. A
	// helper stopped (SIGTSTP, SIGTTIN, SIGTTOU) while it holds an
	// instance's lock would park every later call for that instance, root's
	// included; one killed (SIGINT, SIGTERM, SIGHUP, SIGQUIT) between
	// attaching a mount and checking where it landed would leave it where
	// its owner moved it. The helper's work is short and its lock wait
	// bounded, so it ignores them all and always finishes; SIGKILL from
	// root still ends it. SIGSTOP cannot be ignored, but the caller cannot
	// send it to a root process, and sudo does not relay it (a SIGSTOP to
	// sudo stops only sudo).
	signal.Ignore(syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU,
		syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}
