//go:build linux

package daytwo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/testenv"
	"github.com/left4me/left4me-deploy/migrate"
)

// TestStatusReadsNoPlantedFile: what the state root's owner can put where
// status reads the migration report (a FIFO with a writer that never
// writes, a 1 TiB sparse file, a symlink to a root-only file) neither
// hangs status, nor makes it allocate the file's size, nor makes it read
// and print the link's target.
func TestStatusReadsNoPlantedFile(t *testing.T) {
	testenv.RequireRoot(t)
	secret := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(secret, []byte(`{"error":"SECRET-OF-ROOT","instances":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p string)
		want  string
	}{
		{"fifo", func(t *testing.T, p string) {
			if err := unix.Mkfifo(p, 0o666); err != nil {
				t.Fatal(err)
			}
			w, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
		}, "not a regular file"},
		{"sparse 1 TiB", func(t *testing.T, p string) {
			if err := os.WriteFile(p, nil, 0o644); err != nil || os.Truncate(p, 1<<40) != nil {
				t.Fatalf("make a sparse file: %v", err)
			}
		}, "larger than allowed"},
		{"symlink to a root-only file", func(t *testing.T, p string) {
			if err := os.Symlink(secret, p); err != nil {
				t.Fatal(err)
			}
		}, "symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, bin := t.TempDir(), deploytest.FakeBinDir(t)
			p := filepath.Join(root, migrate.ReportFile)
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, p)
			os.Lchown(p, deploytest.Nobody, deploytest.Nobody)
			st, _, _ := Status(context.Background(), baseOptions(t, root, bin))
			if got := st.Migration.Report; !strings.Contains(got, "unreadable") || !strings.Contains(got, tc.want) {
				t.Errorf("status migration report = %q, want unreadable: %s", got, tc.want)
			}
			if strings.Contains(st.Migration.Report, "SECRET") {
				t.Errorf("status printed the root-only file a link points at: %q", st.Migration.Report)
			}
		})
	}
}

// TestStatusReadsRootsReport: a migration keeps root's own copy of its
// report, and status reads that one, not what the state root's owner put
// in place of the state root's copy.
func TestStatusReadsRootsReport(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	if r := apply(t, baseOptions(t, root, bin)); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r)
	}
	own := filepath.Join(root, hostpath.DeployMigrationReport)
	var st unix.Stat_t
	if err := unix.Lstat(own, &st); err != nil || st.Mode&0o777 != 0o600 || st.Uid != 0 {
		t.Fatalf("root's copy of the migration report %s: %v, mode %#o uid %d; want root's 0600 file", own, err, st.Mode, st.Uid)
	}
	planted := filepath.Join(root, migrate.ReportFile)
	os.Remove(planted)
	if err := os.WriteFile(planted, []byte(`{"error":"FORGED","instances":[{},{},{}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, _ := Status(context.Background(), baseOptions(t, root, bin))
	if got := s.Migration.Report; strings.Contains(got, "FORGED") || !strings.HasPrefix(got, "0 instances") {
		t.Fatalf("status migration report = %q, want root's copy (0 instances), not the state root's", got)
	}
}
