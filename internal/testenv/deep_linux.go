package testenv

import (
	"testing"

	"golang.org/x/sys/unix"
)

// DeepChain makes a chain of depth directories named "d" below the
// existing directory dir, fd by fd (the path soon outgrows PATH_MAX), and
// returns an open fd of the deepest one; the caller closes it.
func DeepChain(t testing.TB, dir string, depth int) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range depth {
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
	return fd
}
