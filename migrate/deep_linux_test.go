//go:build linux

package migrate

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDeepWorkDir: a work/ dir thousands of levels deep (the owner makes
// one in a moment, far deeper than PATH_MAX) is emptied like any other, so
// the owner cannot make every deploy's migration step fail with it.
func TestDeepWorkDir(t *testing.T) {
	tr := newTree(t, "deep")
	fd, err := unix.Open(tr.work("deep"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	unix.Close(fd)
	rep := runMigrate(t, tr, Options{})
	if len(rep.Instances) != 1 || rep.Instances[0].Counts[KindWork] != 1 {
		t.Fatalf("report instances %+v, want one with work/ emptied", rep.Instances)
	}
	if names, err := os.ReadDir(tr.work("deep")); err != nil || len(names) != 0 {
		t.Fatalf("work/ after migration: %v, %v; want empty", names, err)
	}
}
