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

// binaries installs the helpers and l4d2ctl from BinDir, and
// left4me-deploy itself (tool.go), each root:root 0755, skipped when the
// checksum, owner and mode already match. Only a change of what the web app
// runs restarts it.
type binaries struct{ d *deployer }

func (binaries) Name() string { return "binaries" }

func (s binaries) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	type install struct{ src, dest string }
	var list []install
	for _, b := range binaryNames {
		list = append(list, install{filepath.Join(d.o.BinDir, b.name), b.dest})
	}
	tool, err := d.deployerBinary()
	if err != nil {
		return err
	}
	list = append(list, install{tool, hostpath.DeployTool})
	for _, b := range list {
		c := steps.CopyFile{Source: b.src, Path: d.path(b.dest), Mode: 0o755, Owner: d.rootOwner()}
		st, err := c.Check()
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("binary %s is missing from %s: build it with go build -o %s/ ./cmd/... or pass --bin-dir", filepath.Base(b.src), filepath.Dir(b.src), filepath.Dir(b.src))
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
		if b.dest != hostpath.DeployTool {
			if err := d.needRestart(g, "binaries changed"); err != nil {
				return err
			}
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
