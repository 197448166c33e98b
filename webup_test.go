//go:build linux

package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/steps"
)

// A web unit that is down on an otherwise unchanged host is drift: the dry
// run reports it, the deploy starts it (and verifies it is up), and the
// next run changes nothing.
func TestDeployStartsStoppedWebUnit(t *testing.T) {
	deploytest.RequireTools(t)
	root, bin := t.TempDir(), deploytest.FakeBinDir(t)
	svc := &service.Recorder{Active: map[string]bool{hostpath.WebUnit: true}}
	o := baseOptions(t, root, bin)
	o.Live = &steps.Live{Services: true}
	o.Services = svc
	o.WebExec = hostpath.L4d2ctl // a web app that exists once the binaries are installed
	probe := steps.RealProbe()
	probe.SystemdBooted = func() bool { return true }
	o.Probe = probe
	os.MkdirAll(filepath.Join(root, hostpath.StateDir), 0o750)
	os.WriteFile(filepath.Join(root, hostpath.Sentinel), nil, 0o644)
	if r := apply(t, o); r.Err != nil {
		t.Fatalf("first apply: %v\n%s", r.Err, r)
	}

	svc.Active[hostpath.WebUnit] = false // the operator stopped it
	dry := o
	dry.DryRun = true
	r := apply(t, dry)
	if r.Err != nil || r.Sum.Changed != 1 || r.ByStep()["restart"].Status != steps.StatusChanged {
		t.Fatalf("dry run with the web unit down: %v, want the restart step to report the start\n%s", r.Err, r)
	}
	svc.Take()
	r = apply(t, o)
	if r.Err != nil || strings.Join(r.ChangedSteps(), ",") != "restart" {
		t.Fatalf("apply with the web unit down: %v, want only the restart step changed\n%s", r.Err, r)
	}
	if reason := r.ByStep()["restart"].Reason; !strings.Contains(reason, "start left4me-web.service (installed and enabled, but not active)") {
		t.Errorf("restart step said %q", reason)
	}
	calls := svc.Take()
	if !strings.Contains(calls, "start left4me-web.service; is-active left4me-web.service") {
		t.Errorf("service calls %q: want the start, then verify asking whether it is up", calls)
	}
	if r := apply(t, o); r.Err != nil || r.Sum.Changed != 0 {
		t.Fatalf("next apply: %v, want changed=0\n%s", r.Err, r)
	}
}
