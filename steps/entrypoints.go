//go:build linux

package steps

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/sudoers"
)

// helperParams are the sudoers parameters of this deploy: the web app's
// user and the installed helpers.
func (d *Host) helperParams() sudoers.Params {
	return sudoers.Params{User: d.o.User, OverlayHelper: hostpath.OverlayHelper,
		SystemctlHelper: hostpath.SystemctlHelper, JournalHelper: hostpath.JournalHelper}
}

// entryPoints installs the programs sudo grants the web app, one per helper
// verb (left4me-overlay-mount, left4me-systemctl-start, ...), each root:root
// 0755 beside the helpers (see package sudoers), and the host-wide cap on
// the overlays they may mount (overlay.MaxMountsFile).
type entryPoints struct{ d *Host }

// EntryPoints is the entrypoints step of h's run.
func EntryPoints(h *Host) Step { return entryPoints{h} }

func (entryPoints) Name() string { return "entrypoints" }

func (s entryPoints) Run(ctx context.Context, g *Gate) error {
	d := s.d
	for _, e := range sudoers.EntryPoints(d.helperParams()) {
		data, err := sudoers.Script(e)
		if err != nil {
			return err
		}
		// root:root 0755, like the helpers.
		f := hostfile.File{Path: d.path(e.Path), Data: data, Mode: 0o755, Owner: d.rootOwner()}
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

// maxMounts returns the host-wide cap on instance overlays this run writes
// to overlay.MaxMountsFile: Config.MaxMounts when given, else the one an
// earlier run wrote (a setting given once stays, like --web-exec), else
// overlay.DefaultMaxMounts. A file the helper would refuse counts as none.
func (d *Host) maxMounts() int {
	if d.o.MaxMounts > 0 {
		return d.o.MaxMounts
	}
	// The file is root's, in a root-only directory (the directories step
	// made /etc/left4me root:root 0755): no owner-controlled name is read.
	b, err := os.ReadFile(d.path(overlay.MaxMountsFile))
	if err == nil && len(b) <= 64 {
		if n, err := overlay.ParseMaxMounts(string(b)); err == nil {
			return n
		}
	}
	return overlay.DefaultMaxMounts
}

// installMaxMounts writes overlay.MaxMountsFile, root:root 0644, when it
// differs: the cap left4me-overlay mount enforces.
func (d *Host) installMaxMounts(g *Gate) error {
	data := []byte(strconv.Itoa(d.maxMounts()) + "\n")
	f := hostfile.File{Path: d.path(overlay.MaxMountsFile), Data: data, Mode: 0o644, Owner: d.rootOwner()}
	st, err := f.Check()
	if err != nil {
		return fmt.Errorf("read %s: %w", overlay.MaxMountsFile, err)
	}
	if st.Same {
		return nil
	}
	g.FileDiff(overlay.MaxMountsFile, st.Data, data)
	return g.Change("install "+overlay.MaxMountsFile, func() error { return f.Write(nil) })
}
