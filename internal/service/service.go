// Package service starts, stops and inspects systemd units for the
// installer and the migration, through the runner seam.
package service

import (
	"context"
	"sort"
	"strings"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// Manager is what the installer and the migration need from systemd.
type Manager interface {
	// IsActive reports whether unit is active (or activating/reloading).
	IsActive(ctx context.Context, unit string) (bool, error)
	// ListActive returns the active units matching a glob such as
	// "left4me-server@*.service", sorted.
	ListActive(ctx context.Context, pattern string) ([]string, error)
	Start(ctx context.Context, units ...string) error
	Stop(ctx context.Context, units ...string) error
	Restart(ctx context.Context, units ...string) error
	DaemonReload(ctx context.Context) error
}

// Enabler is the optional part of a Manager that enables units to start at
// boot. The installer enables the web unit when its Manager has it.
type Enabler interface {
	IsEnabled(ctx context.Context, unit string) (bool, error)
	Enable(ctx context.Context, units ...string) error
}

// Systemctl is the Manager (and Enabler) backed by /usr/bin/systemctl.
type Systemctl struct {
	Runner runner.Runner
	// Path of systemctl; empty means "systemctl" on PATH.
	Path string
}

func (s Systemctl) bin() string {
	if s.Path != "" {
		return s.Path
	}
	return "systemctl"
}

func (s Systemctl) run(ctx context.Context, args ...string) error {
	return s.Runner.Run(ctx, runner.Cmd{Argv: append([]string{s.bin()}, args...)})
}

// IsActive implements Manager. systemctl is-active exits non-zero for every
// state but active, so the printed state decides, not the exit code.
func (s Systemctl) IsActive(ctx context.Context, unit string) (bool, error) {
	out, err := runner.Output(ctx, s.Runner, s.bin(), "is-active", unit)
	state := strings.TrimSpace(out)
	if state == "" {
		return false, err
	}
	return activeWord(state), nil
}

// ListActive implements Manager.
func (s Systemctl) ListActive(ctx context.Context, pattern string) ([]string, error) {
	out, err := runner.Output(ctx, s.Runner, s.bin(), "list-units", "--state=active",
		"--plain", "--no-legend", "--no-pager", "--full", pattern)
	if err != nil {
		return nil, err
	}
	var units []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			units = append(units, f[0])
		}
	}
	sort.Strings(units)
	return units, nil
}

// Start implements Manager.
func (s Systemctl) Start(ctx context.Context, units ...string) error {
	if len(units) == 0 {
		return nil
	}
	return s.run(ctx, append([]string{"start"}, units...)...)
}

// Stop implements Manager.
func (s Systemctl) Stop(ctx context.Context, units ...string) error {
	if len(units) == 0 {
		return nil
	}
	return s.run(ctx, append([]string{"stop"}, units...)...)
}

// Restart implements Manager.
func (s Systemctl) Restart(ctx context.Context, units ...string) error {
	if len(units) == 0 {
		return nil
	}
	return s.run(ctx, append([]string{"restart"}, units...)...)
}

// DaemonReload implements Manager.
func (s Systemctl) DaemonReload(ctx context.Context) error { return s.run(ctx, "daemon-reload") }

// IsEnabled implements Enabler. is-enabled exits non-zero for every state
// but enabled, so the printed state decides.
func (s Systemctl) IsEnabled(ctx context.Context, unit string) (bool, error) {
	out, err := runner.Output(ctx, s.Runner, s.bin(), "is-enabled", unit)
	state := strings.TrimSpace(out)
	if state == "" {
		return false, err
	}
	return enabledWord(state), nil
}

// Enable implements Enabler.
func (s Systemctl) Enable(ctx context.Context, units ...string) error {
	return s.run(ctx, append([]string{"enable"}, units...)...)
}
