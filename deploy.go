//go:build linux

// Package deploy is the left4me install procedure: one ordered plan of
// idempotent steps that reads top to bottom like the installation itself,
// and the entry points that run it on this machine (Apply) or write its
// files into a directory for review (Render).
package deploy

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/service"
	"github.com/left4me/left4me-deploy/steps"
)

// plan is the install procedure, in order. Each step reads the host,
// decides, and changes only what differs, through its gate.
func plan(h *steps.Host) []steps.Step {
	return []steps.Step{
		steps.Preflight(h),       // root, systemd, overlay in the kernel, sudo, binaries: every problem at once
		steps.Packages(h),        // apt-get or dnf: query first, install only what is missing
		steps.Accounts(h),        // group and system user left4me
		steps.Directories(h),     // state root and its subdirs, helper and unit dirs, with owners and modes
		steps.Binaries(h),        // the three helpers, l4d2ctl and left4me-deploy, atomically, skipped when the checksum matches
		steps.EntryPoints(h),     // the programs sudo grants, one per helper verb, beside the helpers; the cap on their mounts
		steps.Sudoers(h),         // render, visudo -c -f on the temporary file, atomic install
		steps.Units(h),           // render, systemd-analyze verify, install, daemon-reload only on change
		steps.Migration(h),       // fuse-overlayfs upper dirs to the kernel format, once (sentinel-gated)
		steps.Restart(h),         // the web unit, when something it depends on changed (now or in a failed run)
		steps.Verify(h),          // the installed result is what it should be
		steps.Release(h),         // record what is installed, when something changed, and keep it for rollback
		steps.StateMountCheck(h), // the state root's own nosuid,nodev mount is really there (after the record: it fails the run if not)
	}
}

// renderPlan is the part of the plan that writes files: what Render puts
// into a directory tree.
func renderPlan(h *steps.Host) []steps.Step {
	return []steps.Step{steps.Directories(h), steps.Binaries(h), steps.EntryPoints(h), steps.Sudoers(h), steps.Units(h)}
}

// Options configures a run. The zero value of each field has a sensible
// default, filled in by Apply and Render.
type Options struct {
	// Root is where every file lands; empty means the real host "/".
	Root hostpath.Root
	// DryRun reports what would change and changes nothing.
	DryRun bool
	// Diff emits a unified diff for every file that changes.
	Diff bool
	// BinDir holds the binaries to install; empty means the directory of
	// the running executable, or for the left4me-deploy installed on the
	// host the binaries kept with its release (steps.DefaultBinDir).
	BinDir string
	// User and Group own the state root and run the units (left4me).
	User, Group string
	// WebExec is the web unit's ExecStart=; empty keeps the one recorded
	// in hostpath.WebExecFile by an earlier run, else artifacts.DefaultWebExec.
	WebExec string
	// Live chooses the steps that act on the running system; nil means all
	// of them on the real host and none with a Root.
	Live *steps.Live
	// Runner runs outside commands (runner.Exec{}).
	Runner runner.Runner
	// Services drives systemd (service.Systemctl on Runner).
	Services service.Manager
	// Overlays mounts the overlay of each game server the migration starts
	// again; nil means mounting in this process as left4me-overlay does
	// (see migrate.Options.Mounter).
	Overlays overlayclient.Mounter
	// Emit receives every event as it happens.
	Emit func(steps.Event)
	// OnRelease, if set, learns the id of the release the host runs
	// after the plan (recorded now or before), before the summary is
	// emitted (protocol.Writer.SetRelease).
	OnRelease func(id string)
	// Probe reads facts about the running system for the preflight; nil
	// means the real ones.
	Probe *steps.Probe
	// Command describes the running command for the lock's holder message.
	Command string
	// MaxMounts is the host-wide cap on instance overlays left4me-overlay
	// mounts (overlay.MaxMountsFile); 0 keeps the one an earlier run
	// wrote, else overlay.DefaultMaxMounts.
	MaxMounts int
	// Release says how a run that changes something is recorded.
	Release steps.ReleaseOptions
}

// Fill fills in the default of every field left zero.
func (o *Options) Fill() error {
	if o.User == "" {
		o.User = hostpath.User
	}
	if o.Group == "" {
		o.Group = o.User
	}
	if o.WebExec == "" {
		// A setting given once stays: a redeploy without --web-exec keeps
		// the command line recorded by the run that was given it.
		o.WebExec = savedWebExec(o.Root.Join(hostpath.WebExecFile))
	}
	if o.Runner == nil {
		o.Runner = runner.Exec{}
	}
	if o.Services == nil {
		o.Services = service.Systemctl{Runner: o.Runner}
	}
	if o.Live == nil {
		all := o.Root.IsHost()
		o.Live = &steps.Live{Packages: all, Accounts: all, Services: all}
	}
	if o.Probe == nil {
		o.Probe = steps.RealProbe()
	}
	if o.BinDir == "" {
		dir, err := steps.DefaultBinDir(o.Root)
		if err != nil {
			return err
		}
		o.BinDir = dir
	}
	if o.Emit == nil {
		o.Emit = func(steps.Event) {}
	}
	return nil
}

// savedWebExec returns the web app command line an earlier run recorded in
// path (root's, outside the hostile tree), or artifacts.DefaultWebExec when
// there is none or it is not a valid command line.
func savedWebExec(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return artifacts.DefaultWebExec
	}
	v := strings.TrimSuffix(string(data), "\n")
	if _, err := artifacts.WebExecPath(v); err != nil {
		return artifacts.DefaultWebExec
	}
	return v
}

// Apply runs the whole plan on this machine (files under o.Root) and
// returns the summary. Only one Apply runs at a time per root: a second one
// fails at once, naming the holder of the lock. A dry run takes no lock and
// writes nothing.
func Apply(ctx context.Context, o Options) (steps.Event, error) {
	sum, _, err := Run(ctx, o)
	return sum, err
}

// Run is Apply, also returning the run's host state (nil when the plan did
// not start), for status to read what the steps found.
func Run(ctx context.Context, o Options) (steps.Event, *steps.Host, error) {
	if err := o.Fill(); err != nil {
		sum, err := failEarly(o, "options", err)
		return sum, nil, err
	}
	if !o.DryRun {
		// --root DIR installs into DIR, created if missing, as the
		// directories step would; the lock lives below it.
		if !o.Root.IsHost() {
			if err := os.MkdirAll(string(o.Root), 0o755); err != nil {
				sum, err := failEarly(o, "options", fmt.Errorf("create --root %s: %w", o.Root, err))
				return sum, nil, err
			}
		}
		lock, err := acquireLock(o.Root, o.Command)
		if err != nil {
			sum, err := failEarly(o, "lock", err)
			return sum, nil, err
		}
		defer lock.release()
		if err := steps.Sweep(o.config(), o.Emit); err != nil {
			sum, err := failEarly(o, "sweep", err)
			return sum, nil, err
		}
	}
	h, err := steps.NewHost(o.config())
	if err != nil {
		sum, err := failEarly(o, "options", err)
		return sum, nil, err
	}
	e := &steps.Engine{DryRun: o.DryRun, Diff: o.Diff, Emit: h.Watch(o.Emit), OnChange: h.Changed}
	sum, err := e.Run(ctx, plan(h))
	h.Wait()
	return sum, h, err
}

// Render writes exactly the files the installer would install into the
// directory dir, as a tree (dir/etc/sudoers.d/left4me, ...). Nothing on the
// running system is touched; run as root, owners are set as on a host.
// Without o.WebExec the web unit gets the ExecStart= a deploy on this
// machine would give it: the one recorded under o.Root (empty: this
// machine's /) by an earlier run, else the default.
func Render(ctx context.Context, dir string, o Options) (steps.Event, error) {
	if o.WebExec == "" {
		o.WebExec = savedWebExec(o.Root.Join(hostpath.WebExecFile))
	}
	o.Root = hostpath.Root(dir)
	o.Live = &steps.Live{}
	o.DryRun = false
	if err := o.Fill(); err != nil {
		return failEarly(o, "options", err)
	}
	c := o.config()
	c.Render = true
	h, err := steps.NewHost(c)
	if err != nil {
		return failEarly(o, "options", err)
	}
	e := &steps.Engine{Diff: o.Diff, Emit: o.Emit}
	return e.Run(ctx, renderPlan(h))
}

// failEarly reports a failure before the plan could start as one failed
// step and a summary, so a parser of the event stream always sees both.
func failEarly(o Options, step string, err error) (steps.Event, error) {
	emit := o.Emit
	if emit == nil {
		emit = func(steps.Event) {}
	}
	emit(steps.Event{Type: steps.EventStep, Step: step, Status: steps.StatusFailed, Reason: err.Error()})
	sum := steps.Event{Type: steps.EventSummary, Failed: 1}
	emit(sum)
	return sum, fmt.Errorf("%w: %w", steps.ErrFailed, err)
}

// config is what the steps need of o, once filled.
func (o *Options) config() steps.Config {
	return steps.Config{
		Root:      o.Root,
		DryRun:    o.DryRun,
		BinDir:    o.BinDir,
		User:      o.User,
		Group:     o.Group,
		WebExec:   o.WebExec,
		Live:      o.Live,
		Runner:    o.Runner,
		Services:  o.Services,
		Overlays:  o.Overlays,
		OnRelease: o.OnRelease,
		Probe:     o.Probe,
		MaxMounts: o.MaxMounts,
		Release:   o.Release,
	}
}
