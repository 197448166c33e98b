package overlay

import (
	"fmt"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/sudoenv"
)

// DefaultMountNS is the mount namespace the helper mounts in: PID 1's, the
// host's, which every service's namespace receives mounts from.
const DefaultMountNS = "/proc/1/ns/mnt"

// CurrentMountNS, as Config.MountNS, keeps the caller's mount namespace (for
// tests that already run in a private one, and for print-only runs without
// root).
const CurrentMountNS = "current"

// Environment variables of the helper's test-only settings. They are read
// only when the helper was not started through sudo (see ConfigFromEnv).
const (
	// EnvRoot is hostpath.RootEnv: a directory every host path is joined onto.
	EnvRoot = hostpath.RootEnv
	// EnvPrint=1 resolves and checks everything, prints the planned mount on
	// stdout and exits 0 without mounting or unmounting.
	EnvPrint = "LEFT4ME_OVERLAY_PRINT"
	// EnvMountNS names a mount-namespace file (e.g. /proc/PID/ns/mnt) to
	// enter instead of PID 1's, or "current" to stay in the caller's.
	EnvMountNS = "LEFT4ME_OVERLAY_MOUNTNS"
	// EnvMethod forces a mount method: fd, lowerdir+ or legacy.
	EnvMethod = "LEFT4ME_OVERLAY_METHOD"
)

// Config says where the helper works and how it mounts. The zero value is
// production: the real host root, PID 1's mount namespace, the mount method
// this kernel supports.
type Config struct {
	// Root is joined onto every host path ("" or "/": the real host).
	Root hostpath.Root
	// MountNS is the namespace file to enter; "" means DefaultMountNS and
	// CurrentMountNS stays put.
	MountNS string
	// Method forces a mount method; MethodAuto picks by kernel release.
	Method Method
	// PrintOnly makes Mount and Unmount resolve and check everything, then
	// report the plan instead of changing anything.
	PrintOnly bool
	// MaxMounts overrides the host-wide cap on instance overlays (0: the
	// one in MaxMountsFile, else DefaultMaxMounts).
	MaxMounts int
	// Release overrides the kernel release the method is picked (MethodAuto)
	// or checked (a forced one) by ("" = uname).
	Release string
}

// StartedBySudo reports whether the environment shows the process was started
// through sudo.
func StartedBySudo(getenv func(string) (string, bool)) bool {
	return sudoenv.Started(getenv)
}

// ConfigFromEnv builds the helper's Config. Under sudo it is always the
// production zero value: the test-only settings exist so that tests can point
// an unprivileged or namespaced run at a scratch tree, and a caller who can
// only reach the helper through sudo must not steer it with them. ignored
// lists the test-only variables that were set but ignored for that reason.
func ConfigFromEnv(getenv func(string) (string, bool)) (cfg Config, ignored []string, err error) {
	testVars := []string{EnvRoot, EnvPrint, EnvMountNS, EnvMethod, EnvMaxMounts}
	if StartedBySudo(getenv) {
		for _, k := range testVars {
			if _, ok := getenv(k); ok {
				ignored = append(ignored, k)
			}
		}
		return Config{}, ignored, nil
	}
	if v, ok := getenv(EnvRoot); ok && v != "" {
		if !strings.HasPrefix(v, "/") {
			return Config{}, nil, fmt.Errorf("%s=%q: must be an absolute path", EnvRoot, v)
		}
		cfg.Root = hostpath.Root(v)
	}
	if v, ok := getenv(EnvPrint); ok {
		switch v {
		case "1", "true", "yes":
			cfg.PrintOnly = true
		case "", "0", "false", "no":
		default:
			return Config{}, nil, fmt.Errorf("%s=%q: want 1 or 0", EnvPrint, v)
		}
	}
	if v, ok := getenv(EnvMountNS); ok && v != "" {
		if v != CurrentMountNS && !strings.HasPrefix(v, "/") {
			return Config{}, nil, fmt.Errorf("%s=%q: want an absolute path to a mount-namespace file or %q", EnvMountNS, v, CurrentMountNS)
		}
		cfg.MountNS = v
	}
	if v, ok := getenv(EnvMaxMounts); ok && v != "" {
		n, err := parseMaxMounts(v)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%s: %v", EnvMaxMounts, err)
		}
		cfg.MaxMounts = n
	}
	if v, ok := getenv(EnvMethod); ok && v != "" {
		m, err := ParseMethod(v)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%s: %v", EnvMethod, err)
		}
		cfg.Method = m
	}
	return cfg, nil, nil
}

// Mount options every instance gets, in this order, after nosuid,nodev (see
// docs/overlay-helper.md, "Mount options"):
//
//   - redirect_dir=nofollow: never create redirects and never follow one. A
//     redirect xattr in an upper dir names a path in the lower layers; the
//     upper belongs to the hostile user, and a game server has no need to
//     rename directories cheaply (rename(2) of a lower dir returns EXDEV and
//     mv copies instead).
//   - metacopy=off: copy up data with metadata. A metacopy upper file reads
//     its data from wherever its redirect points; the kernel docs warn
//     against metacopy on untrusted upper dirs.
//   - index=off: no inode index. With index=on the upper is bound to the
//     exact lower stack it was first mounted with, and an instance's layer
//     list changes whenever its addons change; hard links across copy-up are
//     not something a game install relies on.
//   - xino=off: the same inode numbers on every kernel and file-system mix,
//     instead of a default that differs with the kernel's configuration.
var mountOptions = [][2]string{
	{"redirect_dir", "nofollow"},
	{"index", "off"},
	{"metacopy", "off"},
	{"xino", "off"},
}

// mountFlags names the per-mount flags, as in docs/overlay-helper.md and print-only output.
const mountFlags = "nosuid,nodev"

// Source returns the mount source the helper gives instance name's overlay.
// It shows in /proc/self/mountinfo and is how umount knows the overlay as
// one this helper made: only root mounts in PID 1's namespace.
func Source(name string) string { return "left4me-" + name }

// Plan is what Mount would do, as host paths (print-only output).
type Plan struct {
	Name    string
	Method  Method
	Source  string
	Merged  string
	Upper   string
	Work    string
	Layers  []string // topmost first
	Mounted bool     // an overlay of this instance is already mounted
}

// String renders p as the equivalent mount(8) command line and the method.
func (p Plan) String() string {
	var b strings.Builder
	opts := []string{mountFlags}
	for _, o := range mountOptions {
		opts = append(opts, o[0]+"="+o[1])
	}
	opts = append(opts, "lowerdir="+strings.Join(p.Layers, ":"), "upperdir="+p.Upper, "workdir="+p.Work)
	fmt.Fprintf(&b, "mount -t overlay -o %s %s %s\n", strings.Join(opts, ","), p.Source, p.Merged)
	fmt.Fprintf(&b, "# method %s, %d layers", p.Method, len(p.Layers))
	if p.Mounted {
		b.WriteString(", already mounted")
	}
	b.WriteString("\n")
	return b.String()
}
