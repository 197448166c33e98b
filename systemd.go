package deploy

import (
	"context"
	"strings"

	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/service"
)

// Enabler is the optional part of a service.Manager that enables units to
// start at boot.
type Enabler interface {
	IsEnabled(ctx context.Context, unit string) (bool, error)
	Enable(ctx context.Context, units ...string) error
}

// systemd is service.Systemctl plus Enabler.
type systemd struct{ service.Systemctl }

func (s systemd) systemctl() string {
	if s.Path != "" {
		return s.Path
	}
	return "systemctl"
}

// IsEnabled implements Enabler. is-enabled exits non-zero for every state
// but enabled, so the printed state decides.
func (s systemd) IsEnabled(ctx context.Context, unit string) (bool, error) {
	out, err := runner.Output(ctx, s.Runner, s.systemctl(), "is-enabled", unit)
	switch state := strings.TrimSpace(out); state {
	case "enabled", "enabled-runtime", "alias", "static", "indirect", "generated":
		return true, nil
	case "":
		return false, err
	}
	return false, nil
}

// Enable implements Enabler.
func (s systemd) Enable(ctx context.Context, units ...string) error {
	return s.Runner.Run(ctx, runner.Cmd{Argv: append([]string{s.systemctl(), "enable"}, units...)})
}
