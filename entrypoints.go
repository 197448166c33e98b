//go:build linux

package deploy

import (
	"context"
	"fmt"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
	"github.com/left4me/left4me-deploy/sudoers"
)

// helperParams are the sudoers parameters of this deploy: the web app's
// user and the installed helpers.
func (d *deployer) helperParams() sudoers.Params {
	return sudoers.Params{User: d.o.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
}

// entryPoints installs the programs sudo grants the web app, one per helper
// verb (left4me-overlay-mount, left4me-systemctl-start, ...), each root:root
// 0755 beside the helpers (see package sudoers), and the host-wide cap on
// the overlays they may mount (overlay.MaxMountsFile).
type entryPoints struct{ d *deployer }

func (entryPoints) Name() string { return "entrypoints" }

func (s entryPoints) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	for _, e := range sudoers.EntryPoints(d.helperParams()) {
		data, err := sudoers.Script(e)
		if err != nil {
			return err
		}
		// root:root 0755, like the helpers.
		f := steps.File{Path: d.path(e.Path), Data: data, Mode: 0o755, Owner: d.rootOwner()}
		st, err := f.Check()
		if err != nil {
			return fmt.Errorf("read %s: %w", e.Path, err)
		}
		if st.Same {
			continue
		}
		g.FileDiff(e.Path, st.Data, data)
		if err := g.Change("install "+e.Path, func() error { return f.Write(nil) }); err != nil {
			return err
		}
	}
	return d.installMaxMounts(g)
}
