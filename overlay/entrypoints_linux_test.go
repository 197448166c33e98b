package overlay

import (
	"os"
	"testing"

	"github.com/left4me/left4me-deploy/sudoers"
)

// writeEntryPoints installs the sudo entry points of the overlay helper at
// helper (helper-mount, helper-umount) beside it, as the deploy does, and
// removes them when the test ends.
func writeEntryPoints(t *testing.T, helper string) {
	t.Helper()
	p := sudoers.Params{User: "x", OverlayHelper: helper, SystemctlHelper: "/bin/false", JournalHelper: "/bin/false"}
	for _, e := range sudoers.EntryPoints(p) {
		if e.Helper != helper {
			continue
		}
		script, err := sudoers.Script(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.Path, script, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(e.Path) })
	}
}
