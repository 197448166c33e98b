//go:build linux

package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/testenv"
)

// realBinDir builds the four installed programs, so the checksums cover
// binaries of their real size.
func realBinDir(b *testing.B) string {
	b.Helper()
	gobin := testenv.RequireBinary(b, "go", "golang")
	dir := b.TempDir()
	cmd := exec.Command(gobin, "build", "-o", dir+"/", "./cmd/left4me-overlay", "./cmd/left4me-systemctl", "./cmd/left4me-journalctl", "./cmd/l4d2ctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func benchOptions(root, bin string) Options {
	return Options{Root: hostpath.Root(root), BinDir: bin, Runner: runner.Exec{}}
}

// BenchmarkApplyNoop is a whole apply --local --root T on a tree that is
// already up to date: every step runs, nothing is written.
func BenchmarkApplyNoop(b *testing.B) {
	deploytest.RequireTools(b)
	bin, root := realBinDir(b), b.TempDir()
	if _, err := Apply(context.Background(), benchOptions(root, bin)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		sum, err := Apply(context.Background(), benchOptions(root, bin))
		if err != nil || sum.Changed != 0 {
			b.Fatalf("no-op apply: %v, changed=%d", err, sum.Changed)
		}
	}
}

// BenchmarkApplyFresh is the baseline: the same apply into an empty root,
// writing every file and running visudo and systemd-analyze.
func BenchmarkApplyFresh(b *testing.B) {
	deploytest.RequireTools(b)
	bin, parent := realBinDir(b), b.TempDir()
	i := 0
	for b.Loop() {
		i++
		root := filepath.Join(parent, "r", string(rune('a'+i%26)), filepath.Base(b.TempDir()))
		if _, err := Apply(context.Background(), benchOptions(root, bin)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(root)
		b.StartTimer()
	}
}
