//go:build linux

package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/overlay"
)

// errAborted marks the test hook's simulated crash.
var errAborted = errors.New("migration aborted")

// stopServices remembers the active game servers and the web unit and stops
// them, or only reports that with --root or --dry-run.
func (m *migrator) stopServices(ctx context.Context) (servers []string, webActive bool, err error) {
	s := &m.rep.Services
	if !m.host {
		s.Note = "--root: service stops and starts are reported, not made"
		s.Stop = []string{"active " + ServerUnitGlob, hostpath.WebUnit}
		s.Start = []string{hostpath.WebUnit + " (if it was active)", "the " + ServerUnitGlob + " that were active, each after mounting its overlay"}
		return nil, false, nil
	}
	svc := m.opts.Services
	if svc == nil {
		return nil, false, errors.New("migrate: no service manager given")
	}
	if servers, err = svc.ListActive(ctx, ServerUnitGlob); err != nil {
		return nil, false, fmt.Errorf("list active game servers: %w", err)
	}
	if webActive, err = svc.IsActive(ctx, hostpath.WebUnit); err != nil {
		return nil, false, fmt.Errorf("check %s: %w", hostpath.WebUnit, err)
	}
	s.Stop = append(append([]string{}, servers...), hostpath.WebUnit)
	if webActive {
		s.Start = append(s.Start, hostpath.WebUnit)
	}
	s.Start = append(s.Start, servers...)
	for _, u := range servers {
		if name, err := serverInstance(u); err == nil {
			s.Mount = append(s.Mount, name)
		}
	}
	if m.opts.DryRun {
		return servers, webActive, nil
	}
	s.Made = true
	m.logf("stopping %s", strings.Join(s.Stop, " "))
	if err := svc.Stop(ctx, s.Stop...); err != nil {
		return nil, false, fmt.Errorf("stop units before migrating: %w", err)
	}
	return servers, webActive, nil
}

// startServices starts again what stopServices stopped: the web unit, then
// each game server after mounting its overlay, because the server unit
// asserts that its merged dir is a mount point. One unit failing does not
// keep the others down; the error names every unit that did not come back,
// and so does the kept report.
func (m *migrator) startServices(ctx context.Context, servers []string, webActive bool) error {
	if !m.host || m.opts.DryRun || len(m.rep.Services.Start) == 0 {
		return nil
	}
	s := &m.rep.Services
	m.logf("starting %s", strings.Join(s.Start, " "))
	var errs *multierror.Error
	fail := func(unit string, err error) {
		s.Failed = append(s.Failed, UnitFailure{Unit: unit, Error: err.Error()})
		errs = multierror.Append(errs, fmt.Errorf("%s: %w", unit, err))
	}
	if webActive {
		if err := m.opts.Services.Restart(ctx, hostpath.WebUnit); err != nil {
			fail(hostpath.WebUnit, fmt.Errorf("restart: %w", err))
		}
	}
	for _, unit := range servers {
		if err := m.startServer(ctx, unit); err != nil {
			fail(unit, err)
		}
	}
	if errs.ErrorOrNil() == nil {
		return nil
	}
	errs.ErrorFormat = func(es []error) string {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Error()
		}
		return fmt.Sprintf("the conversion is done, but %d unit(s) did not come back: %s (once fixed, start a game server with l4d2ctl start NAME)",
			len(es), strings.Join(parts, "; "))
	}
	err := errs.ErrorOrNil()
	if kerr := m.keepReport(); kerr != nil {
		return fmt.Errorf("%w; %v", err, kerr)
	}
	return err
}

// startServer mounts the overlay of game-server unit's instance and starts
// the unit. If the start fails it takes the overlay down again, as l4d2ctl
// start does, so no mount stays behind without its server.
func (m *migrator) startServer(ctx context.Context, unit string) error {
	name, err := serverInstance(unit)
	if err != nil {
		return err
	}
	m.logf("mounting the overlay of %s", name)
	if err := m.mounter.Mount(ctx, name); err != nil {
		return fmt.Errorf("mount its overlay: %w", err)
	}
	if err := m.opts.Services.Start(ctx, unit); err != nil {
		if uerr := m.mounter.Unmount(ctx, name); uerr != nil {
			return fmt.Errorf("start: %w; taking its overlay down again failed too, so it may still be mounted at %s: %v", err, hostpath.Merged(name), uerr)
		}
		return fmt.Errorf("start: %w (its overlay was taken down again)", err)
	}
	return nil
}

// serverInstance returns the instance name of game-server unit
// left4me-server@NAME.service, checked with the one name rule.
func serverInstance(unit string) (string, error) {
	name, ok := strings.CutPrefix(unit, "left4me-server@")
	if ok {
		name, ok = strings.CutSuffix(name, ".service")
	}
	if !ok {
		return "", fmt.Errorf("%q is not a %s unit", unit, ServerUnitGlob)
	}
	if err := instance.ValidateName(name); err != nil {
		return "", fmt.Errorf("not a valid instance unit: %w", err)
	}
	return name, nil
}

// kernelMounter mounts as left4me-overlay does, in this process: it enters
// the mount namespace of cfg (PID 1's by default) on a thread of its own.
type kernelMounter struct{ cfg overlay.Config }

func (k kernelMounter) Mount(_ context.Context, name string) error {
	_, err := k.cfg.Mount(name)
	return err
}

func (k kernelMounter) Unmount(_ context.Context, name string) error {
	_, err := k.cfg.Unmount(name)
	return err
}
