//go:build linux

package daytwo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/steps"
)

// A deploy that changes the host records the release: every installed
// binary and artifact with its checksum, who and when, and keeps a copy for
// rollback. A run that changes nothing writes nothing.
func TestReleaseRecord(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	bin := deploytest.BinDirWith(t, "A")
	o := baseOptions(t, root, bin)
	o.Release.By = "alice@laptop"
	var told []string
	o.OnRelease = func(id string) { told = append(told, id) }
	r := apply(t, o)
	if r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r)
	}
	hist, err := release.ReadHistory(hostpath.Root(root))
	if err != nil || len(hist) != 1 {
		t.Fatalf("history after the first deploy: %d records, %v", len(hist), err)
	}
	rec := hist[0]
	if rec.Kind != release.KindDeploy || rec.By != "alice@laptop" || rec.Time.IsZero() || rec.Version == "" {
		t.Fatalf("record %+v", rec)
	}
	want := []string{hostpath.OverlayHelper, hostpath.SystemctlHelper, hostpath.JournalHelper, hostpath.L4d2ctl, hostpath.SudoersFile,
		hostpath.UnitDir + "/" + hostpath.WebUnit, hostpath.UnitDir + "/" + hostpath.ServerUnit}
	for _, p := range want {
		sum, err := release.FileSHA256(filepath.Join(root, p))
		if err != nil || rec.Files[p] != sum {
			t.Errorf("record of %s = %q, installed sha256 %q (%v)", p, rec.Files[p], sum, err)
		}
	}
	if rec.ID != release.ContentID(rec.Files) {
		t.Errorf("ID %s is not the content ID of its files", rec.ID)
	}
	if len(told) != 1 || told[0] != rec.ID {
		t.Errorf("OnRelease was told %q, want [%s]", told, rec.ID)
	}
	kept := filepath.Join(root, steps.ReleasesDir, rec.ID)
	if err := VerifyKept(kept, rec); err != nil {
		t.Fatalf("kept release: %v", err)
	}
	for _, p := range []string{filepath.Join(root, release.StateDir), filepath.Join(root, steps.ReleasesDir), kept} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v (%v), want 0700", p, fi.Mode(), err)
		}
	}
	if !strings.Contains(r.ByStep()["release"].Reason, "record the release") {
		t.Errorf("release step said %q", r.ByStep()["release"].Reason)
	}

	// Unchanged: nothing written, changed=0, and the release the host
	// runs is still named.
	before := deploytest.Snapshot(t, root)
	told = nil
	again := apply(t, o)
	if len(told) != 1 || told[0] != rec.ID {
		t.Errorf("unchanged run: OnRelease was told %q, want [%s]", told, rec.ID)
	}
	if again.Err != nil || again.Sum.Changed != 0 {
		t.Fatalf("second apply: %v changed=%d\n%s", again.Err, again.Sum.Changed, again)
	}
	if d := deploytest.DiffSnapshots(before, deploytest.Snapshot(t, root)); len(d) > 0 {
		t.Fatalf("a no-op deploy wrote:\n%s", strings.Join(d, "\n"))
	}
}

// Only the last release.Kept releases keep their files; the history keeps
// release.HistoryLength records.
func TestReleasesBounded(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	for _, tag := range []string{"A", "B", "C", "D", "E"} {
		if r := apply(t, baseOptions(t, root, deploytest.BinDirWith(t, tag))); r.Err != nil {
			t.Fatalf("apply %s: %v\n%s", tag, r.Err, r)
		}
	}
	hist, _ := release.ReadHistory(hostpath.Root(root))
	entries, err := os.ReadDir(filepath.Join(root, steps.ReleasesDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 5 || len(entries) != release.Kept {
		t.Fatalf("%d records and %d kept releases, want 5 and %d", len(hist), len(entries), release.Kept)
	}
	for _, h := range hist[len(hist)-release.Kept:] {
		if _, err := os.Stat(filepath.Join(root, steps.ReleasesDir, h.ID)); err != nil {
			t.Errorf("recent release %s not kept: %v", h.ID, err)
		}
	}
	rb, err := PreviousRelease(hostpath.Root(root))
	if err != nil || rb.Target.ID != hist[3].ID || rb.Current.ID != hist[4].ID {
		t.Fatalf("PreviousRelease = %s from %s, %v; want %s from %s", rb.Target.ID, rb.Current.ID, err, hist[3].ID, hist[4].ID)
	}
	// A kept file changed behind our back: no rollback to it.
	os.WriteFile(filepath.Join(rb.Dir, "bin", "l4d2ctl"), []byte("tampered"), 0o700)
	if _, err := PreviousRelease(hostpath.Root(root)); err == nil || !strings.Contains(err.Error(), "not kept intact") {
		t.Fatalf("PreviousRelease with a tampered kept file = %v", err)
	}
	// No history: a clear error.
	if _, err := PreviousRelease(hostpath.Root(t.TempDir())); !errors.Is(err, release.ErrNoPrevious) {
		t.Fatalf("PreviousRelease of a fresh host = %v, want ErrNoPrevious", err)
	}
}
