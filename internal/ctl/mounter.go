//go:build linux

package ctl

import (
	"context"
	"fmt"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/runner"
)

// DirectMounter is the overlayclient.Mounter for l4d2ctl --no-sudo (root, tests):
// it runs left4me-overlay mount|umount NAME itself, where overlayclient.SudoMounter
// would put sudo -n in front.
type DirectMounter struct {
	Runner runner.Runner
	// Helper is the overlay helper; empty means hostpath.OverlayHelper.
	Helper string
}

// Mount implements overlayclient.Mounter.
func (m DirectMounter) Mount(ctx context.Context, name string) error {
	return m.run(ctx, "mount", name)
}

// Unmount implements overlayclient.Mounter.
func (m DirectMounter) Unmount(ctx context.Context, name string) error {
	return m.run(ctx, "umount", name)
}

func (m DirectMounter) run(ctx context.Context, verb, name string) error {
	if err := instance.ValidateName(name); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	helper := m.Helper
	if helper == "" {
		helper = hostpath.OverlayHelper
	}
	return m.Runner.Run(ctx, runner.Cmd{Argv: []string{helper, verb, name}})
}
