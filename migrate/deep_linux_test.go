//go:build linux

package migrate

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// TestDeepWorkDir: a work/ dir thousands of levels deep (the owner makes
// one in a moment, far deeper than PATH_MAX) is emptied like any other, so
// the owner cannot make every deploy's migration step fail with it.
func TestDeepWorkDir(t *testing.T) {
	tr := newTree(t, "deep")
	unix.Close(testenv.DeepChain(t, tr.work("deep"), 5000))
	rep := runMigrate(t, tr, Options{})
	if len(rep.Instances) != 1 || rep.Instances[0].Counts[KindWork] != 1 {
		t.Fatalf("report instances %+v, want one with work/ emptied", rep.Instances)
	}
	if names, err := os.ReadDir(tr.work("deep")); err != nil || len(names) != 0 {
		t.Fatalf("work/ after migration: %v, %v; want empty", names, err)
	}
}
