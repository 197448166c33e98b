//go:build linux

package steps

import (
	"context"
	"fmt"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/sudoers"
)

// sudoersFile renders the helper rules and installs them, validated by
// visudo before they replace the installed file.
type sudoersFile struct{ d *Host }

// Sudoers is the sudoers step of h's run.
func Sudoers(h *Host) Step { return sudoersFile{h} }

func (sudoersFile) Name() string { return "sudoers" }

func (s sudoersFile) Run(ctx context.Context, g *Gate) error {
	d := s.d
	data, err := sudoers.Render(d.helperParams())
	if err != nil {
		return err
	}
	f := hostfile.File{Path: d.path(hostpath.SudoersFile), Data: data, Mode: sudoers.Mode, Owner: d.rootOwner()}
	st, err := f.Check()
	if err != nil {
		return fmt.Errorf("read %s: %w", hostpath.SudoersFile, err)
	}
	if st.Same {
		d.startSudoCheck(ctx)
		return nil
	}
	g.FileDiff(hostpath.SudoersFile, st.Data, data)
	visudo, err := d.o.Probe.LookPath(sudoers.Visudo)
	if err != nil {
		return fmt.Errorf("validate sudoers: %w", err)
	}
	if err := d.needRestart(g, "sudoers changed"); err != nil {
		return err
	}
	err = g.Change("install "+hostpath.SudoersFile, func() error {
		return f.Write(func(tmp string) error {
			return sudoers.ValidateWith(ctx, d.o.Runner, visudo, tmp)
		})
	})
	if err == nil {
		d.startSudoCheck(ctx)
	}
	return err
}
