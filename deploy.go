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
	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/service"
	"github.com/left4me/left4me-deploy/steps"
)

// plan is the install procedure, in order. Each step reads the host,
// decides, and changes only what differs, through its gate.
func (d *deployer) plan() []steps.Step {
	return []steps.Step{
		preflight{d},       // root, systemd, overlay in the kernel, sudo, binaries: every problem at once
		packages{d},        // apt-get or dnf: query first, install only what is missing
		accounts{d},        // group and system user left4me
		directories{d},     // state root and its subdirs, helper and unit dirs, with owners and modes
		binaries{d},        // the three helpers, l4d2ctl and left4me-deploy, atomically, skipped when the checksum matches
		entryPoints{d},     // the programs sudo grants, one per helper verb, beside the helpers; the cap on their mounts
		sudoersFile{d},     // render, visudo -c -f on the temporary file, atomic install
		units{d},           // render, systemd-analyze verify, install, daemon-reload only on change
		&migration{d: d},   // fuse-overlayfs upper dirs to the kernel format, once (sentinel-gated)
		restart{d},         // the web unit, when something it depends on changed (now or in a failed run)
		verify{d},          // the installed result is what it should be
		releaseStep{d},     // record what is installed, when something changed, and keep it for rollback
		stateMountCheck{d}, // the state root's own nosuid,nodev mount is really there (after the record: it fails the run if not)
	}
}

// renderPlan is the part of the plan that writes files: what Render puts
// into a directory tree.
func (d *deployer) renderPlan() []steps.Step {
	return []steps.Step{directories{d}, binaries{d}, entryPoints{d}, sudoersFile{d}, units{d}}
}

// Live says which steps act on the running system rather than on files
// under the root: installing packages, creating the user and group, and
// talking to systemd. A step that is not live reports skipped, saying what
// it would do.
type Live struct {
	Packages bool
	Accounts bool
	Services bool
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
	// host the binaries kept with its release (defaultBinDir).
	BinDir string
	// User and Group own the state root and run the units (left4me).
	User, Group string
	// WebExec is the web unit's ExecStart=; empty keeps the one recorded
	// in hostpath.WebExecFile by an earlier run, else artifacts.DefaultWebExec.
	WebExec string
	// Live chooses the steps that act on the running system; nil means all
	// of them on the real host and none with a Root.
	Live *Live
	// Runner runs outside commands (runner.Exec{}).
	Runner runner.Runner
	// Services drives systemd (service.Systemctl on Runner).
	Services service.Manager
	// Overlays mounts the overlay of each game server the migration starts
	// again; nil means mounting in this process as left4me-overlay does
	// (see migrate.Options.Mounter).
	Overlays overlay.Mounter
	// Emit receives every event as it happens.
	Emit func(steps.Event)
	// OnRelease, if set, learns the id of the release the host runs
	// after the plan (recorded now or before), before the summary is
	// emitted (protocol.Writer.SetRelease).
	OnRelease func(id string)
	// Probe reads facts about the running system for the preflight; nil
	// means the real ones.
	Probe *Probe
	// Command describes the running command for the lock's holder message.
	Command string
	// MaxMounts is the host-wide cap on instance overlays left4me-overlay
	// mounts (overlay.MaxMountsFile); 0 keeps the one an earlier run
	// wrote, else overlay.DefaultMaxMounts.
	MaxMounts int
	// Release says how a run that changes something is recorded.
	Release ReleaseOptions
}

func (o *Options) fill() error {
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
		o.Live = &Live{Packages: all, Accounts: all, Services: all}
	}
	if o.Probe == nil {
		o.Probe = RealProbe()
	}
	if o.BinDir == "" {
		dir, err := defaultBinDir(o.Root)
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
	sum, _, err := applyRun(ctx, o)
	return sum, err
}

// applyRun is Apply, also returning the run's deployer (nil when the plan
// did not start) for Status to read what the steps found.
func applyRun(ctx context.Context, o Options) (steps.Event, *deployer, error) {
	if err := o.fill(); err != nil {
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
		if err := sweep(o); err != nil {
			sum, err := failEarly(o, "sweep", err)
			return sum, nil, err
		}
	}
	d, err := newDeployer(o)
	if err != nil {
		sum, err := failEarly(o, "options", err)
		return sum, nil, err
	}
	e := &steps.Engine{DryRun: o.DryRun, Diff: o.Diff, Emit: d.watch(o.Emit)}
	sum, err := e.Run(ctx, d.plan())
	return sum, d, err
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
	o.Live = &Live{}
	o.DryRun = false
	if err := o.fill(); err != nil {
		return failEarly(o, "options", err)
	}
	d, err := newDeployer(o)
	if err != nil {
		return failEarly(o, "options", err)
	}
	d.rendering = true
	e := &steps.Engine{Diff: o.Diff, Emit: o.Emit}
	return e.Run(ctx, d.renderPlan())
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

// deployer is the state shared by the steps of one run.
type deployer struct {
	o    Options
	root hostpath.Root
	// manageOwners is false when not running as root (Render by a user):
	// files then keep the invoking user's ownership.
	manageOwners bool
	// rendering is set by Render: only the installed artifacts are
	// written, none of the installer's own state.
	rendering bool
	// restartReasons says why the web unit must restart, in order.
	restartReasons []string
	// restarted is set once the restart step restarted the web unit.
	restarted bool
	// changedSteps counts the steps that changed something (release.go).
	changedSteps int
	// binarySums are the installed binaries' SHA-256 (hex) by host path,
	// as the binaries step found or wrote them.
	binarySums map[string]string
	// observed holds what the steps asked systemd (followup.go), for
	// status to reuse.
	observed observations
}

func newDeployer(o Options) (*deployer, error) {
	if _, err := artifacts.WebExecPath(o.WebExec); err != nil {
		return nil, err
	}
	d := &deployer{o: o, root: o.Root, manageOwners: o.Probe.Euid() == 0, binarySums: map[string]string{}}
	if o.Live.Services {
		if err := d.loadPendingRestart(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// path maps a host path onto the root.
func (d *deployer) path(hostPath string) string { return d.root.Join(hostPath) }

// rootOwner is root:root, or unmanaged when not running as root.
func (d *deployer) rootOwner() steps.Owner {
	if !d.manageOwners {
		return steps.Unmanaged
	}
	return steps.RootOwner
}
