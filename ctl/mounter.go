package ctl

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/instance"
	"github.com/left4me/left4me-deploy/runner"
)

// HelperMounter is the overlay.Mounter l4d2ctl uses: it runs
// [sudo -n] left4me-overlay mount|umount NAME, NAME taken from the parent
// of merged (runtime/NAME/merged).
type HelperMounter struct {
	Runner runner.Runner
	// Sudo is the sudo binary; empty runs the helper directly.
	Sudo string
	// Helper is the overlay helper; empty means hostpath.OverlayHelper.
	Helper string
}

// Mount implements overlay.Mounter.
func (m HelperMounter) Mount(ctx context.Context, merged string) error {
	return m.run(ctx, "mount", merged)
}

// Unmount implements overlay.Mounter.
func (m HelperMounter) Unmount(ctx context.Context, merged string) error {
	return m.run(ctx, "umount", merged)
}

func (m HelperMounter) run(ctx context.Context, verb, merged string) error {
	name := filepath.Base(filepath.Dir(merged))
	if filepath.Base(merged) != "merged" {
		return fmt.Errorf("%s %s: not a runtime/NAME/merged path", verb, merged)
	}
	if err := instance.ValidateName(name); err != nil {
		return err
	}
	helper := m.Helper
	if helper == "" {
		helper = hostpath.OverlayHelper
	}
	var argv []string
	if m.Sudo != "" {
		argv = append(argv, m.Sudo, "-n")
	}
	argv = append(argv, helper, verb, name)
	return m.Runner.Run(ctx, runner.Cmd{Argv: argv})
}
