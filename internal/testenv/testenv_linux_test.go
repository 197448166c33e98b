package testenv

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { ReexecInNamespace(m) }

func TestReexecInNamespace(t *testing.T) {
	RequireNamespace(t)
	if pid := os.Getpid(); pid != 1 {
		t.Fatalf("Getpid() = %d inside the namespace, want 1", pid)
	}
	f, err := os.Open("/proc/1/ns/mnt")
	if err != nil {
		t.Fatalf("open /proc/1/ns/mnt inside the namespace: %v", err)
	}
	f.Close()
	// A tmpfs mounted here must stay private to this namespace.
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, 0)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("statfs(%s) = %#x, %v; want tmpfs", dir, st.Type, err)
	}
}
