// Command left4me-journalctl lets the left4me user read the journal of its
// own game-server units and nothing else. It runs as root through sudo:
//
//	left4me-journalctl NAME [-n N] [-f]
//
// executes /usr/bin/journalctl -u left4me-server@NAME.service --no-pager
// [-n N] [-f] with a clean environment; any other argument is refused.
package main

import (
	"os"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		version.Print(os.Stdout, "left4me-journalctl")
		return
	}
	os.Exit(svchelper.Main("left4me-journalctl", svchelper.JournalctlUsage, svchelper.JournalctlArgv,
		os.Args[1:], os.Getenv, os.Stderr, syscall.Exec))
}
