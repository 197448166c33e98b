package deploy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// The deferral note names at most five of the owner's mounts, each quoted,
// and counts the rest: 1,600 mounts make one short line.
func TestNamedMounts(t *testing.T) {
	var below []string
	for i := range 1600 {
		below = append(below, textsafe.Quote(fmt.Sprintf("/var/lib/left4me/runtime/%d       ok       verify/merged", i)))
	}
	got := namedMounts(below)
	if !strings.HasSuffix(got, " and 1595 more") || strings.Count(got, `"/var/lib/left4me/runtime/`) != 5 || strings.Contains(got, "  ") {
		t.Errorf("namedMounts(1600 mounts) = %q, want five quoted names, no run of blanks, and 1595 more", got)
	}
	if got := namedMounts(below[:2]); got != below[0]+" "+below[1] {
		t.Errorf("namedMounts(2 mounts) = %q", got)
	}
}
