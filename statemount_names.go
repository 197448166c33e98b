package deploy

import (
	"fmt"
	"strings"
)

// maxMountsShown is how many of the mounts below the state root the
// deferral note names; the owner can make thousands.
const maxMountsShown = 5

// namedMounts names the first maxMountsShown mount points of below (each
// already quoted, textsafe.Quote) and counts the rest.
func namedMounts(below []string) string {
	if len(below) <= maxMountsShown {
		return strings.Join(below, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(below[:maxMountsShown], " "), len(below)-maxMountsShown)
}
