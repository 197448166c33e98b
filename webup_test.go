//go:build linux

package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// A web unit that is down on an otherwise unchanged host is drift: the dry
// run reports it, the deploy starts it (and verifies it is up), and the
// next run changes nothing.
func TestDeployStartsStoppedWebUnit(t *testing.T) {
	requireTools(t)
	root, bin := t.TempDir(), fakeBinDir(t)
	svc := &fakeServices{active: map[string]bool{hostpath.WebUnit: true}}
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Services = svc
	o.WebExec = hostpath.L4d2ctl // a web app that exists once the binaries are installed
	probe := steps.RealProbe()
	probe.SystemdBooted = func() bool { return true }
	o.Probe = probe
	os.MkdirAll(filepath.Join(root, hostpath.StateDir), 0o750)
	os.WriteFile(filepath.Join(root, hostpath.Sentinel), nil, 0o644)
	if r := apply(t, o); r.err != nil {
		t.Fatalf("first apply: %v\n%s", r.err, r)
	}

	svc.active[hostpath.WebUnit] = false // the operator stopped it
	dry := o
	dry.DryRun = true
	r := apply(t, dry)
	if r.err != nil || r.sum.Changed != 1 || r.byStep()["restart"].Status != steps.StatusChanged {
		t.Fatalf("dry run with the web unit down: %v, want the restart step to report the start\n%s", r.err, r)
	}
	svc.take()
	r = apply(t, o)
	if r.err != nil || strings.Join(r.changedSteps(), ",") != "restart" {
		t.Fatalf("apply with the web unit down: %v, want only the restart step changed\n%s", r.err, r)
	}
	if reason := r.byStep()["restart"].Reason; !strings.Contains(reason, "start left4me-web.service (installed and enabled, but not active)") {
		t.Errorf("restart step said %q", reason)
	}
	calls := svc.take()
	if !strings.Contains(calls, "start left4me-web.service; is-active left4me-web.service") {
		t.Errorf("service calls %q: want the start, then verify asking whether it is up", calls)
	}
	if r := apply(t, o); r.err != nil || r.sum.Changed != 0 {
		t.Fatalf("next apply: %v, want changed=0\n%s", r.err, r)
	}
}
