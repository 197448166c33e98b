//go:build linux

package deploy

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/release"
)

// defaultBinDir is where a run without --bin-dir takes the binaries from:
// the directory of the running program (a checkout's bin/, a release
// bundle, the remote deployer's staging directory). The left4me-deploy
// installed on the host (hostpath.DeployTool) has no helpers beside it; it
// takes the binaries of the release it belongs to, kept under
// ReleasesDir/ID/bin by the run that installed it, so apply --local and
// status --local there compare the host with its own release.
func defaultBinDir(root hostpath.Root) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the directory of the running program (set --bin-dir): %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("find the directory of the running program (set --bin-dir): %w", err)
	}
	return binDirFor(root, exe)
}

// binDirFor is defaultBinDir for the program exe.
func binDirFor(root hostpath.Root, exe string) (string, error) {
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
