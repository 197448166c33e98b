//go:build linux

package steps

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/release"
)

// Program is one program installed from BinDir: its file name there and
// its host path.
type Program struct{ Name, Dest string }

// Programs are the programs installed from BinDir, with their host paths.
var Programs = []Program{
	{"left4me-overlay", hostpath.OverlayHelper},
	{"left4me-systemctl", hostpath.SystemctlHelper},
	{"left4me-journalctl", hostpath.JournalHelper},
	{"l4d2ctl", hostpath.L4d2ctl},
}

// binaries installs the helpers and l4d2ctl from BinDir, and
// left4me-deploy itself (as hostpath.DeployTool), each root:root 0755, skipped when the
// checksum, owner and mode already match. Only a change of what the web app
// runs restarts it.
type binaries struct{ d *Host }

// Binaries is the binaries step of h's run.
func Binaries(h *Host) Step { return binaries{h} }

func (binaries) Name() string { return "binaries" }

func (s binaries) Run(ctx context.Context, g *Gate) error {
	d := s.d
	type install struct{ src, dest string }
	var list []install
	for _, b := range Programs {
		list = append(list, install{filepath.Join(d.o.BinDir, b.Name), b.Dest})
	}
	tool, err := d.deployerBinary()
	if err != nil {
		return err
	}
	list = append(list, install{tool, hostpath.DeployTool})
	for _, b := range list {
		c := hostfile.CopyFile{Source: b.src, Path: d.path(b.dest), Mode: 0o755, Owner: d.rootOwner()}
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

// DefaultBinDir is where a run without --bin-dir takes the binaries from:
// the directory of the running program (a checkout's bin/, a release
// bundle, the remote deployer's staging directory). The left4me-deploy
// installed on the host (hostpath.DeployTool) has no helpers beside it; it
// takes the binaries of the release it belongs to, kept under
// ReleasesDir/ID/bin by the run that installed it, so apply --local and
// status --local there compare the host with its own release.
func DefaultBinDir(root hostpath.Root) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the directory of the running program (set --bin-dir): %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("find the directory of the running program (set --bin-dir): %w", err)
	}
	return BinDirFor(root, exe)
}

// BinDirFor is DefaultBinDir for the program exe.
func BinDirFor(root hostpath.Root, exe string) (string, error) {
	if exe != root.Join(hostpath.DeployTool) {
		return filepath.Dir(exe), nil
	}
	last, err := release.Last(root)
	if err != nil {
		return "", fmt.Errorf("%s takes the binaries of its release: %w (set --bin-dir)", hostpath.DeployTool, err)
	}
	if last == nil {
		return "", fmt.Errorf("%s takes the binaries of its release, but %s records none: set --bin-dir to a directory of binaries (a release bundle's linux-ARCH/)", hostpath.DeployTool, HistoryFile)
	}
	dir := filepath.Join(root.Join(ReleasesDir), last.ID, "bin")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s takes the binaries of its release %s, but %s is not kept any more: set --bin-dir to a directory of binaries (a release bundle's linux-ARCH/)", hostpath.DeployTool, last.ID, dir)
	}
	return dir, nil
}
