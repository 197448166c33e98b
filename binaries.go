//go:build linux

package deploy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/steps"
)

// binaryNames are the programs installed from BinDir, with their host paths.
var binaryNames = []struct{ name, dest string }{
	{"left4me-overlay", hostpath.OverlayHelper},
	{"left4me-systemctl", hostpath.SystemctlHelper},
	{"left4me-journalctl", hostpath.JournalHelper},
	{"l4d2ctl", hostpath.L4d2ctl},
}

// binaries installs the helpers and l4d2ctl from BinDir, each root:root
// 0755, skipped when the checksum, owner and mode already match.
type binaries struct{ d *deployer }

func (binaries) Name() string { return "binaries" }

func (s binaries) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	for _, b := range binaryNames {
		c := steps.CopyFile{Source: filepath.Join(d.o.BinDir, b.name), Path: d.path(b.dest), Mode: 0o755, Owner: d.rootOwner()}
		st, err := c.Check()
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("binary %s is missing from %s: build it with go build -o %s/ ./cmd/... or pass --bin-dir", b.name, d.o.BinDir, d.o.BinDir)
		}
		if err != nil {
			return fmt.Errorf("checksum %s: %w", b.dest, err)
		}
		if st.Exists {
			d.binarySums[b.dest] = hex.EncodeToString(st.InstalledSum[:])
		}
		if st.Same {
			continue
		}
		what := "install " + b.dest
		switch {
		case st.Exists && st.InstalledSum == st.SourceSum:
			what = "set owner and mode of " + b.dest
		case st.Exists:
			g.BinaryDiff(b.dest, hex.EncodeToString(st.InstalledSum[:]), hex.EncodeToString(st.SourceSum[:]))
		default:
			g.BinaryDiff(b.dest, "", hex.EncodeToString(st.SourceSum[:]))
		}
		if err := d.needRestart(g, "binaries changed"); err != nil {
			return err
		}
		if err := g.Change(what, c.Write); err != nil {
			return err
		}
		if !g.DryRun() {
			d.binarySums[b.dest] = hex.EncodeToString(st.SourceSum[:])
		}
	}
	return nil
}
