// Command left4me-journalctl is not implemented yet.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "left4me-journalctl: not implemented yet")
	os.Exit(1)
}
