//go:build linux

// Command l4d2ctl starts, stops, deletes and inspects left4me game-server
// instances on the host. The web app runs it as the left4me user; it reaches
// root only through sudo -n and the helpers in /usr/local/libexec/left4me.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		version.Print(os.Stdout, "l4d2ctl")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
