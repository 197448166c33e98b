// Command left4me-overlay is not implemented yet.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "left4me-overlay: not implemented yet")
	os.Exit(1)
}
