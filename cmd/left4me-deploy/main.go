// Command left4me-deploy installs and upgrades left4me on a host: over SSH
// from a workstation (left4me-deploy user@host) or locally (apply --local).
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
