//go:build linux

package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// A deploy installs left4me-deploy itself on the host, as a file of the
// release kept with the other binaries; the installed copy then takes its
// binaries from that kept release, and a redeploy from it changes nothing.
func TestDeployToolInstalled(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	bin := deploytest.BinDirWith(t, "A")
	r := apply(t, baseOptions(t, root, bin))
	if r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r)
	}
	tool := filepath.Join(root, hostpath.DeployTool)
	got, err := os.ReadFile(tool)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(bin, steps.DeployBinary))
	if string(got) != string(want) {
		t.Fatalf("%s = %q, want the installer from --bin-dir %q", hostpath.DeployTool, got, want)
	}
	if fi, _ := os.Stat(tool); fi.Mode() != 0o755 {
		t.Errorf("%s mode %v, want 0755", hostpath.DeployTool, fi.Mode())
	}
	dir, err := steps.BinDirFor(hostpath.Root(root), tool)
	if err != nil {
		t.Fatalf("steps.BinDirFor(the installed tool) = %v", err)
	}
	if !strings.HasPrefix(dir, filepath.Join(root, steps.ReleasesDir)+"/") || filepath.Base(dir) != "bin" {
		t.Fatalf("steps.BinDirFor(the installed tool) = %s, want the kept release's bin/", dir)
	}
	for _, n := range []string{"l4d2ctl", "left4me-overlay", steps.DeployBinary} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("kept release lacks %s: %v", n, err)
		}
	}
	second := apply(t, baseOptions(t, root, dir))
	if second.Err != nil || second.Sum.Changed != 0 {
		t.Fatalf("apply from the kept release: %v, want changed=0\n%s", second.Err, second)
	}
	if d, err := steps.BinDirFor(hostpath.Root(root), "/opt/x/left4me-deploy"); err != nil || d != "/opt/x" {
		t.Errorf("steps.BinDirFor(another program) = %q, %v; want its directory", d, err)
	}
}

// The installed tool with no release recorded says what to pass instead.
func TestDeployToolWithoutRelease(t *testing.T) {
	root := t.TempDir()
	_, err := steps.BinDirFor(hostpath.Root(root), filepath.Join(root, hostpath.DeployTool))
	if err == nil || !strings.Contains(err.Error(), "set --bin-dir") {
		t.Fatalf("binDirFor without a release = %v, want an error that says set --bin-dir", err)
	}
}

// A change of left4me-deploy alone is a change of the host, but the web
// app does not depend on it: no restart.
func TestDeployToolChangeNoRestart(t *testing.T) {
	deploytest.RequireTools(t)
	root := t.TempDir()
	bin := deploytest.BinDirWith(t, "A")
	if r := apply(t, baseOptions(t, root, bin)); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r)
	}
	if err := os.WriteFile(filepath.Join(bin, steps.DeployBinary), []byte("#!/bin/sh\n# installer B\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := apply(t, baseOptions(t, root, bin))
	if r.Err != nil || r.Sum.Changed == 0 {
		t.Fatalf("apply with a new installer: %v, want a change\n%s", r.Err, r)
	}
	steps := r.ByStep()
	if !strings.Contains(steps["binaries"].Reason, "install "+hostpath.DeployTool) {
		t.Errorf("binaries step = %q, want the new %s installed", steps["binaries"].Reason, hostpath.DeployTool)
	}
	if reason := steps["restart"].Reason; !strings.Contains(reason, "nothing") {
		t.Errorf("restart step = %q, want no restart for a new installer alone", reason)
	}
}

// apply --local --root DIR creates DIR when it does not exist yet (the
// README's first look: --root /tmp/left4me-demo).
func TestApplyIntoMissingRoot(t *testing.T) {
	deploytest.RequireTools(t)
	root := filepath.Join(t.TempDir(), "not", "yet")
	r := apply(t, baseOptions(t, root, deploytest.FakeBinDir(t)))
	if r.Err != nil {
		t.Fatalf("apply into a missing --root: %v\n%s", r.Err, r)
	}
	if _, err := os.Stat(filepath.Join(root, hostpath.L4d2ctl)); err != nil {
		t.Fatalf("nothing installed under the new root: %v", err)
	}
}
