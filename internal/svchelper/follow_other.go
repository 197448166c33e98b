//go:build !linux

package svchelper

import (
	"fmt"
	"io"
)

func follow(prog string, _, _ []string, _ Getenv, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: -f needs Linux\n", prog)
	return ExitExecFailed
}
