//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/steps"
)

// releaseBinDir is a bin dir with the real installer and stand-ins for the
// four programs, tagged so that each tag is a different release.
func releaseBinDir(t *testing.T, installer, tag string) string {
	t.Helper()
	dir := binDir(t)
	for _, n := range []string{"left4me-overlay", "left4me-systemctl", "left4me-journalctl", "l4d2ctl"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n# "+tag+" "+n+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(installer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "left4me-deploy"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func installedSums(t *testing.T, root string, rec release.Release) map[string]string {
	t.Helper()
	got := map[string]string{}
	for p := range rec.Files {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		got[p] = sha256Hex(b)
	}
	return got
}

// Deploy A, deploy B, rollback: A's files again; a second rollback changes
// nothing; --dry-run changes nothing; status tells drift from in-sync.
func TestRollbackLocal(t *testing.T) {
	requireInstallTools(t)
	root := t.TempDir()
	installer := filepath.Join(t.TempDir(), "left4me-deploy")
	if out, err := exec.Command("go", "build", "-o", installer, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	binA, binB := releaseBinDir(t, installer, "A"), releaseBinDir(t, installer, "B")

	// No release yet: a clear error, nothing written.
	code, out, errOut := runCLI("rollback", "--local", "--root", root)
	if code != 1 || !strings.Contains(errOut, "no previous release") || !strings.Contains(errOut, "nothing changed") {
		t.Fatalf("rollback of a fresh root = %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("rollback of a fresh root wrote %d entries", len(entries))
	}

	for _, bin := range []string{binA, binB} {
		if code, out, errOut := runCLI("apply", "--local", "--root", root, "--bin-dir", bin, "--by", "alice@laptop"); code != 0 {
			t.Fatalf("apply %s = %d\n%s\n%s", bin, code, out, errOut)
		}
	}
	hist, _ := release.ReadHistory(hostpath.Root(root))
	if len(hist) != 2 || hist[1].By != "alice@laptop" {
		t.Fatalf("history %+v", hist)
	}
	a, b := hist[0], hist[1]
	if code, _, _ := runCLI("status", "--local", "--root", root, "--bin-dir", binB); code != daytwo.ExitInSync {
		t.Fatalf("status against B after deploying B = %d, want %d", code, daytwo.ExitInSync)
	}
	if code, out, _ := runCLI("status", "--local", "--root", root, "--bin-dir", binA); code != daytwo.ExitDrift || !strings.Contains(out, "drift: binaries") {
		t.Fatalf("status against A after deploying B = %d, want %d\n%s", code, daytwo.ExitDrift, out)
	}

	histFile := filepath.Join(root, steps.HistoryFile)
	before, _ := os.ReadFile(histFile)
	code, out, errOut = runCLI("rollback", "--local", "--root", root, "--dry-run", "--diff", "--json")
	if code != 0 {
		t.Fatalf("rollback --dry-run --diff = %d\n%s\n%s", code, out, errOut)
	}
	ev := parseEvents(t, out)
	if sum := ev[len(ev)-1]; sum.Changed == 0 {
		t.Fatalf("rollback --dry-run: changed=0, want the binaries\n%s", out)
	}
	diffs := 0
	for _, e := range ev {
		if e.Type == protocol.EventDiff && strings.Contains(e.Diff, hostpath.L4d2ctl) {
			diffs++
		}
	}
	if diffs == 0 {
		t.Errorf("rollback --dry-run --diff showed no diff of %s:\n%s", hostpath.L4d2ctl, out)
	}
	if after, _ := os.ReadFile(histFile); string(after) != string(before) || installedSums(t, root, b)[hostpath.L4d2ctl] != b.Files[hostpath.L4d2ctl] {
		t.Fatalf("rollback --dry-run changed the host")
	}

	code, out, errOut = runCLI("rollback", "--local", "--root", root)
	if code != 0 || !strings.Contains(out, "the migration is not undone") {
		t.Fatalf("rollback = %d\n%s\n%s", code, out, errOut)
	}
	got := installedSums(t, root, a)
	for p, sum := range a.Files {
		if got[p] != sum {
			t.Errorf("after rollback %s has sha256 %s, want release A's %s", p, got[p], sum)
		}
	}
	hist, _ = release.ReadHistory(hostpath.Root(root))
	last := hist[len(hist)-1]
	if len(hist) != 3 || last.Kind != release.KindRollback || last.ID != a.ID || last.From != b.ID {
		t.Fatalf("record of the rollback: %+v", last)
	}
	if _, err := os.Stat(filepath.Join(root, hostpath.Sentinel)); err != nil {
		t.Fatalf("the migration sentinel is gone after the rollback: %v", err)
	}

	// Again: nothing changes, nothing is recorded.
	before, _ = os.ReadFile(histFile)
	code, out, errOut = runCLI("rollback", "--local", "--root", root, "--json")
	if code != 0 {
		t.Fatalf("second rollback = %d\n%s\n%s", code, out, errOut)
	}
	ev = parseEvents(t, out)
	if sum := ev[len(ev)-1]; sum.Changed != 0 {
		t.Fatalf("second rollback: changed=%d, want 0\n%s", sum.Changed, out)
	}
	if after, _ := os.ReadFile(histFile); string(after) != string(before) {
		t.Fatalf("second rollback wrote the history")
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
