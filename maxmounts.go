//go:build linux

package deploy

import (
	"fmt"
	"os"
	"strconv"

	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/steps"
)

// maxMounts returns the host-wide cap on instance overlays this run writes
// to overlay.MaxMountsFile: Options.MaxMounts when given, else the one an
// earlier run wrote (a setting given once stays, like --web-exec), else
// overlay.DefaultMaxMounts. A file the helper would refuse counts as none.
func (d *deployer) maxMounts() int {
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
func (d *deployer) installMaxMounts(g *steps.Gate) error {
	data := []byte(strconv.Itoa(d.maxMounts()) + "\n")
	f := steps.File{Path: d.path(overlay.MaxMountsFile), Data: data, Mode: 0o644, Owner: d.rootOwner()}
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
