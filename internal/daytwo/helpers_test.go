//go:build linux

package daytwo

import (
	"context"
	"testing"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/deploytest"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
)

// Helpers shared by the tests that deploy into a throwaway root and then
// ask status or rollback about it, as package deploy's own tests do.

func baseOptions(t testing.TB, root, bin string) deploy.Options {
	return deploy.Options{Root: hostpath.Root(root), BinDir: bin, Runner: runner.Exec{}}
}

func apply(t testing.TB, o deploy.Options) *deploytest.Run {
	t.Helper()
	r := &deploytest.Run{}
	o.Emit = r.Emit
	r.Sum, r.Err = deploy.Apply(context.Background(), o)
	return r
}
