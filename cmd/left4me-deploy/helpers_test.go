//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

// makeDist runs scripts/dist (what make dist runs) into a temporary
// directory and returns the bundle.
func makeDist(t testing.TB) string {
	t.Helper()
	testenv.RequireBinary(t, "go", "golang (the Go toolchain)")
	dir := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("../../scripts/dist", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/dist: %v\n%s", err, out)
	}
	// The bundle ships the generated man page and completions.
	files, err := generatedDocs(newApp(&env{}))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		if got, err := os.ReadFile(filepath.Join(dir, "share", name)); err != nil || string(got) != want {
			t.Errorf("bundle share/%s: %v (or it differs from the generated one)", name, err)
		}
	}
	return dir
}

// bundleCLI is the workstation program inside a bundle, for this machine.
func bundleCLI(bundle string) string {
	return filepath.Join(bundle, "linux-"+runtime.GOARCH, "left4me-deploy")
}

// TestSSH deploys through real sshds with the real plan from a bundle made
// by scripts/dist; the bundle is built once for all subtests.
func TestSSH(t *testing.T) {
	testenv.RequireRoot(t)
	bundle := makeDist(t)
	t.Run("DeployDryRunDiffRedeploy", func(t *testing.T) { testDeployDryRunDiffRedeploy(t, bundle) })
	t.Run("TwoHostsInParallel", func(t *testing.T) { testTwoHostsInParallel(t, bundle) })
	t.Run("ConnectErrors", func(t *testing.T) { testConnectErrors(t, bundle) })
	t.Run("FromCheckout", func(t *testing.T) { testFromCheckout(t, bundle) })
	t.Run("BundleWithoutGo", func(t *testing.T) { testBundleWithoutGo(t, bundle) })
	t.Run("Interrupt", func(t *testing.T) { testInterrupt(t, bundle) })
	t.Run("JumpHost", func(t *testing.T) { testJumpHost(t, bundle) })
	t.Run("SudoTerminal", func(t *testing.T) { testSudoTerminal(t, bundle) })
	t.Run("StatusAndRollback", func(t *testing.T) { testStatusAndRollback(t, bundle) })
}
