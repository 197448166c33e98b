//go:build linux

package deploy

import (
	"context"
	"fmt"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/internal/bindmount"
)

// stateMountNow judges the state root's mount. On the host it is the real
// mount (bindmount.Judge); with a test root, whose state root no unit can
// mount, the service manager's word is all there is.
func (d *deployer) stateMountNow(ctx context.Context) (bindmount.Mount, error) {
	if d.root.IsHost() {
		return bindmount.Judge(d.path(hostpath.StateDir))
	}
	active, err := d.o.Services.IsActive(ctx, artifacts.StateMountUnit)
	if err != nil {
		return bindmount.Mount{}, fmt.Errorf("ask systemd whether %s is active: %w", artifacts.StateMountUnit, err)
	}
	if active {
		return bindmount.Mount{Verdict: bindmount.Real, What: artifacts.StateMountUnit + " active (test root)"}, nil
	}
	return bindmount.Mount{Verdict: bindmount.None, What: artifacts.StateMountUnit + " inactive (test root)"}, nil
}
