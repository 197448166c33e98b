//go:build linux

package steps

import (
	"context"
	"slices"
	"time"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
)

// viewed answers what a run asks systemd about the units it installs
// (active, enabled, loaded from an older file, when the web app's main
// process started) from one service.View, taken at the run's first such
// question and dropped at its next change: any change through a Gate, and
// any start, stop, restart, reload or enable through viewed itself (the
// migration's, made outside a gate). A run that changes nothing asks
// systemd twice (show and is-enabled) instead of once per question; every
// answer after a change is asked anew. Everything else goes to systemctl
// as it is.
type viewed struct {
	service.Systemctl
	units  []string // the units a view covers (templates as NAME@.service)
	enable []string // those of them is-enabled can name
	gen    *uint64  // Host.changes: the run's changes so far
	view   *service.View
	at     uint64 // *gen when view was taken
}

// newViewed is s answering from views of the units the deploy installs.
func newViewed(s service.Systemctl, gen *uint64) *viewed {
	return &viewed{Systemctl: s, units: artifacts.UnitNames(), enable: []string{hostpath.WebUnit, artifacts.StateMountUnit}, gen: gen}
}

// current is the view for this state of the run, taken now if there is
// none; nil (and the caller asks systemd itself) when it cannot be taken.
func (v *viewed) current(ctx context.Context) *service.View {
	if v.view != nil && v.at == *v.gen {
		return v.view
	}
	view, err := v.Systemctl.View(ctx, v.units, v.enable)
	if err != nil {
		v.view = nil
		return nil
	}
	v.view, v.at = view, *v.gen
	return view
}

func (v *viewed) changed() { *v.gen++ }

func (v *viewed) IsActive(ctx context.Context, unit string) (bool, error) {
	if view := v.current(ctx); view != nil {
		if active, ok := view.IsActive(unit); ok {
			return active, nil
		}
	}
	return v.Systemctl.IsActive(ctx, unit)
}

// activeState is the word systemctl is-active prints for unit, from the
// view; ok is false when the view cannot say.
func (v *viewed) activeState(ctx context.Context, unit string) (string, bool) {
	if view := v.current(ctx); view != nil {
		return view.ActiveState(unit)
	}
	return "", false
}

func (v *viewed) IsEnabled(ctx context.Context, unit string) (bool, error) {
	if view := v.current(ctx); view != nil {
		if on, ok := view.IsEnabled(unit); ok {
			return on, nil
		}
	}
	return v.Systemctl.IsEnabled(ctx, unit)
}

func (v *viewed) NeedDaemonReload(ctx context.Context, units ...string) ([]string, error) {
	if view := v.current(ctx); view != nil && !slices.ContainsFunc(units, func(u string) bool { return !slices.Contains(v.units, u) }) {
		return view.NeedDaemonReload(units...)
	}
	return v.Systemctl.NeedDaemonReload(ctx, units...)
}

func (v *viewed) MainStarted(ctx context.Context, unit string) (time.Time, error) {
	if view := v.current(ctx); view != nil {
		if t, ok, err := view.MainStarted(unit); ok {
			return t, err
		}
	}
	return v.Systemctl.MainStarted(ctx, unit)
}

func (v *viewed) Start(ctx context.Context, units ...string) error {
	v.changed()
	return v.Systemctl.Start(ctx, units...)
}

func (v *viewed) Stop(ctx context.Context, units ...string) error {
	v.changed()
	return v.Systemctl.Stop(ctx, units...)
}

func (v *viewed) Restart(ctx context.Context, units ...string) error {
	v.changed()
	return v.Systemctl.Restart(ctx, units...)
}

func (v *viewed) DaemonReload(ctx context.Context) error {
	v.changed()
	return v.Systemctl.DaemonReload(ctx)
}

func (v *viewed) Enable(ctx context.Context, units ...string) error {
	v.changed()
	return v.Systemctl.Enable(ctx, units...)
}
