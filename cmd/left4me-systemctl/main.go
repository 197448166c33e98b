// Command left4me-systemctl is not implemented yet.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "left4me-systemctl: not implemented yet")
	os.Exit(1)
}
