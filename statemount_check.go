//go:build linux

package deploy

import (
	"context"
	"fmt"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// stateMountCheck is the plan's last word on the defence in depth: the
// state root's own nosuid,nodev bind mount (artifacts.StateMountUnit) must
// be on the state root, judged by the mount (judgeStateMount), not by the
// unit. While it is missing (deferred because instances are mounted below
// the state root, or anything else) the step fails with the reason, after
// every deploy and in status, so that no run says all is well while set-uid
// and device files in the owner's tree would be honoured. It runs last, so
// the release is recorded first.
type stateMountCheck struct{ d *deployer }

func (stateMountCheck) Name() string { return "state mount" }

func (s stateMountCheck) ShouldRun(context.Context) (bool, string) {
	if !s.d.o.Live.Services || !s.d.root.IsHost() {
		return false, "the state root's mount is judged on a live host only"
	}
	return true, ""
}

func (s stateMountCheck) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	m, err := d.stateMountNow(ctx)
	if err != nil {
		return fmt.Errorf("look at the mount on %s: %w", hostpath.StateDir, err)
	}
	if m.IsReal() {
		return nil
	}
	// A dry run before the first install: the units step would install
	// and start the mount, so it is drift, not a failure.
	if g.DryRun() && !fileExists(d.path(hostpath.UnitDir+"/"+artifacts.StateMountUnit)) {
		g.Changed("mount " + hostpath.StateDir + " nosuid,nodev (" + artifacts.StateMountUnit + ", installed by the units step)")
		return nil
	}
	why := m.What
	if has, _ := deferralMarked(d); has {
		held, err := d.stateMountHeld()
		if err != nil {
			return err
		}
		if held == "" {
			held = "nothing is mounted below " + hostpath.StateDir + " any more; the next deploy starts it"
		}
		why += "; deferred (" + artifacts.StateMountDeferred + "): " + held
	}
	return fmt.Errorf("%s is not mounted nosuid,nodev (%s), so set-uid and device files in the state root are honoured: %s; stop the instances mounted below it (l4d2ctl stop NAME) and deploy again, or reboot",
		hostpath.StateDir, artifacts.StateMountUnit, why)
}
