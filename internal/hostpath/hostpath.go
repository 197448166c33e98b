// Package hostpath names every host path of the left4me layout (docs/design.md §2)
// and joins it onto a root prefix, so that tests and staging trees can point
// all binaries at a directory instead of "/".
package hostpath

import (
	"os"
	"path/filepath"
	"strings"
)

// Host paths of the layout contract. They are always written as on the real
// host (in instance.env too) and resolved inside a Root.
const (
	StateDir        = "/var/lib/left4me"
	InstallationDir = StateDir + "/installation"
	OverlaysDir     = StateDir + "/overlays"
	RuntimeDir      = StateDir + "/runtime"
	Sentinel        = StateDir + "/.kernel-overlay-migrated"
	LibexecDir      = "/usr/local/libexec/left4me"
	OverlayHelper   = LibexecDir + "/left4me-overlay"
	SystemctlHelper = LibexecDir + "/left4me-systemctl"
	JournalHelper   = LibexecDir + "/left4me-journalctl"
	L4d2ctl         = "/usr/local/bin/l4d2ctl"
	// DeployTool is left4me-deploy on the host, the release's own copy:
	// apply --local, status --local and migrate are root's, so it lives
	// in root's sbin (on root's PATH and sudo's secure_path).
	DeployTool  = "/usr/local/sbin/left4me-deploy"
	SudoersFile = "/etc/sudoers.d/left4me"
	UnitDir     = "/usr/local/lib/systemd/system"
	WebUnit     = "left4me-web.service"
	ServerUnit  = "left4me-server@.service"

	// MigrationReport is where a migration run keeps its report.
	MigrationReport = StateDir + "/migration-report.json"
	// MigrationJournal records the aside names chosen by --reset-upper
	// until the sentinel is written, so a rerun after a crash moves nothing
	// twice.
	MigrationJournal = StateDir + "/.kernel-overlay-migration.journal"

	// Sudo is the sudo binary the unprivileged callers run the helpers
	// through: an absolute path, so the caller's PATH cannot substitute
	// another program.
	Sudo = "/usr/bin/sudo"

	// User and Group own the state root and run the web app and game servers.
	User  = "left4me"
	Group = "left4me"

	// RootEnv names the environment variable that sets the root prefix for
	// tests. Privileged helpers honour it only when not started through sudo.
	RootEnv = "LEFT4ME_ROOT"
)

// Host paths the installer keeps for itself: root-owned, outside the
// unprivileged user's state root.
const (
	// DeployStateDir (root:root 0700) holds the installer's state and the
	// remote deployer's binary cache.
	DeployStateDir = "/var/lib/left4me-deploy"
	// PendingRestart lists why the web unit must restart, left by a run
	// that failed before its restart step.
	PendingRestart = DeployStateDir + "/pending-restart"
	// WebExecFile keeps the web unit's ExecStart= given by --web-exec.
	WebExecFile = DeployStateDir + "/web-exec"
	// DeployMigrationReport is root's own copy of the last migration
	// report, which status reads (the copy in the state root,
	// MigrationReport, is for the web app and belongs to its user).
	DeployMigrationReport = DeployStateDir + "/migration-report.json"
	// ReplacedDir keeps units moved out of EtcUnitDir.
	ReplacedDir = DeployStateDir + "/replaced"
	// DeployRunDir (root:root 0700, on the /run tmpfs, so empty after
	// every boot) holds the installer's locks and markers. It is made and
	// checked by internal/rootdir, never in a directory others can write
	// (such as the 1777 /run/lock, where any user could plant the file).
	DeployRunDir = "/run/left4me-deploy"
	// DeployLock is the lock one left4me-deploy apply holds at a time.
	DeployLock = DeployRunDir + "/deploy.lock"
	// EtcUnitDir holds units that shadow ours in UnitDir.
	EtcUnitDir = "/etc/systemd/system"
)

// ServerUnitName returns the unit that runs instance name.
func ServerUnitName(name string) string { return "left4me-server@" + name + ".service" }

// Root is a directory that host paths are joined onto. The zero value and
// "/" both mean the real host.
type Root string

// FromEnv returns the root named by $LEFT4ME_ROOT, or the real host.
func FromEnv() Root { return Root(os.Getenv(RootEnv)) }

// IsHost reports whether r is the real host's "/".
func (r Root) IsHost() bool { return r == "" || filepath.Clean(string(r)) == "/" }

// Join maps a host path onto r. hostPath must be absolute; it is cleaned
// lexically, so ".." cannot climb out of r.
func (r Root) Join(hostPath string) string {
	clean := filepath.Clean("/" + hostPath)
	if r.IsHost() {
		return clean
	}
	return filepath.Join(string(r), clean)
}

// HostPath is the inverse of Join: it maps a path under r back to the host
// path, and reports false if p is not inside r.
func (r Root) HostPath(p string) (string, bool) {
	p = filepath.Clean(p)
	if r.IsHost() {
		return p, filepath.IsAbs(p)
	}
	base := filepath.Clean(string(r))
	if p == base {
		return "/", true
	}
	rest, ok := strings.CutPrefix(p, base+"/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
}

// Instance returns the host path of runtime/NAME; name must already be valid.
func Instance(name string) string { return RuntimeDir + "/" + name }

// InstanceEnv returns the host path of runtime/NAME/instance.env.
func InstanceEnv(name string) string { return Instance(name) + "/instance.env" }

// Upper, Work and Merged return the overlay dirs of instance name.
func Upper(name string) string  { return Instance(name) + "/upper" }
func Work(name string) string   { return Instance(name) + "/work" }
func Merged(name string) string { return Instance(name) + "/merged" }
