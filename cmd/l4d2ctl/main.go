// Command l4d2ctl is not implemented yet.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "l4d2ctl: not implemented yet")
	os.Exit(1)
}
