//go:build linux

package steps

import (
	"context"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostfile"
	"github.com/left4me/left4me-deploy/internal/overlayclient"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/service"
)

// Live says which steps act on the running system rather than on files
// under the root: installing packages, creating the user and group, and
// talking to systemd. A step that is not live reports skipped, saying what
// it would do.
type Live struct {
	Packages bool
	Accounts bool
	Services bool
}

// ReleaseOptions says how a run is recorded.
type ReleaseOptions struct {
	// By is the workstation user@host the deploy came from; empty means the
	// local user (SUDO_USER if set) at this host.
	By string
	// Kind is release.KindDeploy (the default) or release.KindRollback.
	Kind string
	// From is the release a rollback replaces.
	From string
}

// Config is what the steps of a run need to know, every default filled in
// (package deploy's Options, which builds it).
type Config struct {
	// Root is where every file lands; empty or "/" is the real host.
	Root hostpath.Root
	// DryRun reports what would change and changes nothing.
	DryRun bool
	// Render writes only the installed artifacts, none of the installer's
	// own state (deploy.Render).
	Render bool
	// BinDir holds the binaries to install.
	BinDir string
	// User and Group own the state root and run the units.
	User, Group string
	// WebExec is the web unit's ExecStart=.
	WebExec string
	// Live chooses the steps that act on the running system.
	Live *Live
	// Runner runs outside commands.
	Runner runner.Runner
	// Services drives systemd.
	Services service.Manager
	// Overlays mounts the overlay of each game server the migration starts
	// again; nil means mounting in this process (migrate.Options.Mounter).
	Overlays overlayclient.Mounter
	// OnRelease, if set, learns the id of the release the host runs after
	// the plan.
	OnRelease func(id string)
	// Probe reads facts about the running system for the preflight.
	Probe *Probe
	// MaxMounts is the host-wide cap on instance overlays; 0 keeps the one
	// an earlier run wrote, else overlay.DefaultMaxMounts.
	MaxMounts int
	// Release says how a run that changes something is recorded.
	Release ReleaseOptions
}

// Host is the state shared by the steps of one run on one host: its
// configuration and what the steps found and did so far.
type Host struct {
	o    Config
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
	// observed holds what the steps asked systemd (common.go), for
	// status to reuse.
	observed observations
	// sudo is verify's question to the host's sudo, once asked
	// (startSudoCheck).
	sudo *sudoCheck
	// changes counts the changes of the run so far (Changed), which end
	// the view of systemd the run's questions are answered from (viewed).
	changes uint64
}

// NewHost checks c and starts a run's state, with the web app's restart
// an earlier failed run left pending.
func NewHost(c Config) (*Host, error) {
	if _, err := artifacts.WebExecPath(c.WebExec); err != nil {
		return nil, err
	}
	d := &Host{o: c, root: c.Root, manageOwners: c.Probe.Euid() == 0, rendering: c.Render, binarySums: map[string]string{}}
	if c.Live.Services {
		if err := d.loadPendingRestart(); err != nil {
			return nil, err
		}
		if s, ok := c.Services.(service.Systemctl); ok {
			d.o.Services = newViewed(s, &d.changes)
		}
	}
	return d, nil
}

// ActiveState is the word systemctl is-active prints for unit, as the
// run's view of systemd holds it now; ok is false when the run keeps no
// view (services not live, or a service manager other than systemctl).
func (d *Host) ActiveState(ctx context.Context, unit string) (state string, ok bool) {
	if v, isViewed := d.o.Services.(*viewed); isViewed {
		return v.activeState(ctx, unit)
	}
	return "", false
}

// Changed is the Engine's OnChange: a step is about to change the host, so
// what the run learnt of systemd before is asked again.
func (d *Host) Changed() { d.changes++ }

// path maps a host path onto the root.
func (d *Host) path(hostPath string) string { return d.root.Join(hostPath) }

// rootOwner is root:root, or unmanaged when not running as root.
func (d *Host) rootOwner() hostfile.Owner {
	if !d.manageOwners {
		return hostfile.Unmanaged
	}
	return hostfile.RootOwner
}

// Watch counts the changed steps of a run for the release step and passes
// every event on to emit.
func (d *Host) Watch(emit func(Event)) func(Event) {
	return func(ev Event) {
		if ev.Type == EventStep && ev.Status == StatusChanged {
			d.changedSteps++
		}
		emit(ev)
	}
}

// What status reads of a run, after its plan: the release's files as the
// steps found them, and the follow-ups the steps asked systemd about.

// BinarySum is the SHA-256 (hex) of the binary installed at hostPath as the
// binaries step found or wrote it; ok is false when the step did not.
func (d *Host) BinarySum(hostPath string) (sum string, ok bool) {
	sum, ok = d.binarySums[hostPath]
	return sum, ok
}

// Followups says what the follow-ups of changes still wait for on the host:
// the units systemd holds loaded from older files, and which installed
// file the running web app is older than ("" when none). What the run's
// units and restart steps asked already is reused. Both are empty when
// services are not live or the service manager cannot say (no Observer).
func (d *Host) Followups(ctx context.Context) (stale []string, web string, err error) {
	obs := d.observer()
	if obs == nil {
		return nil, "", nil
	}
	// The dry run's units and restart steps asked already, unless they
	// did not get there or had other reasons.
	stale, web = d.observed.staleUnits, d.observed.webStale
	if !d.observed.staleUnitsSet {
		if stale, err = staleUnits(ctx, obs, d.o); err != nil {
			return nil, "", err
		}
	}
	if !d.observed.webStaleSet {
		if web, err = webStale(ctx, obs, d.root, d.webDependencies()); err != nil {
			return nil, "", err
		}
	}
	return stale, web, nil
}

// Leftovers lists what killed runs left under the run's root, as of now
// (the package's Leftovers).
func (d *Host) Leftovers(now time.Time) ([]string, error) { return Leftovers(d.o, now) }
