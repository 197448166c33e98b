// Command left4me-systemctl lets the left4me user drive its own game-server
// units and nothing else. It runs as root through sudo:
//
//	left4me-systemctl start|stop|restart|status|is-active|reset-failed|show NAME
//	left4me-systemctl list-units
//
// executes /usr/bin/systemctl VERB left4me-server@NAME.service (show with a
// fixed property list; list-units, one listing of every left4me-server@
// unit) with a clean environment; any other argument is refused.
package main

import (
	"os"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		version.Print(os.Stdout, "left4me-systemctl")
		return
	}
	os.Exit(svchelper.Main("left4me-systemctl", svchelper.SystemctlUsage, svchelper.SystemctlArgv,
		os.Args[1:], os.Getenv, os.Stderr, syscall.Exec))
}
