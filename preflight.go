//go:build linux

package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/steps"
)

// Probe reads the facts about the running system that the preflight checks.
// Tests replace single functions.
type Probe struct {
	Euid          func() int
	KernelRelease func() (string, error)
	// SystemdBooted reports whether systemd runs as init.
	SystemdBooted func() bool
	// OverlayFS reports whether the kernel has overlayfs (built in, loaded,
	// or as a loadable module).
	OverlayFS func(release string) bool
	// LookPath finds a program.
	LookPath func(name string) (string, error)
	// OSRelease returns the contents of /etc/os-release.
	OSRelease func() ([]byte, error)
}

// RealProbe reads this machine.
func RealProbe() *Probe {
	return &Probe{
		Euid: os.Geteuid,
		KernelRelease: func() (string, error) {
			var u unix.Utsname
			if err := unix.Uname(&u); err != nil {
				return "", err
			}
			return unix.ByteSliceToString(u.Release[:]), nil
		},
		SystemdBooted: func() bool {
			fi, err := os.Stat("/run/systemd/system")
			return err == nil && fi.IsDir()
		},
		OverlayFS: func(release string) bool {
			if b, err := os.ReadFile("/proc/filesystems"); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if strings.TrimSpace(strings.TrimPrefix(l, "nodev")) == "overlay" {
						return true
					}
				}
			}
			m, _ := filepath.Glob("/lib/modules/" + release + "/kernel/fs/overlayfs/overlay.ko*")
			return len(m) > 0
		},
		LookPath: func(name string) (string, error) {
			if p, err := exec.LookPath(name); err == nil {
				return p, nil
			}
			// Root's tools live in sbin, which a non-login PATH may lack.
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
				p := filepath.Join(dir, name)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
			return "", fmt.Errorf("%s: not found on PATH or in /usr/sbin", name)
		},
		OSRelease: func() ([]byte, error) {
			b, err := os.ReadFile("/etc/os-release")
			if errors.Is(err, os.ErrNotExist) {
				return os.ReadFile("/usr/lib/os-release")
			}
			return b, err
		},
	}
}

// preflight checks everything the later steps need and reports every
// problem at once, before anything changes.
type preflight struct{ d *deployer }

func (preflight) Name() string { return "preflight" }

func (s preflight) Run(ctx context.Context, g *steps.Gate) error {
	d, p := s.d, s.d.o.Probe
	var errs *multierror.Error
	if uid := p.Euid(); uid != 0 {
		errs = multierror.Append(errs, fmt.Errorf("not root (uid %d): run left4me-deploy apply as root", uid))
	}
	release, err := p.KernelRelease()
	if err != nil {
		errs = multierror.Append(errs, fmt.Errorf("read the kernel release: %w", err))
	} else {
		if !p.OverlayFS(release) {
			errs = multierror.Append(errs, fmt.Errorf("kernel %s has no overlay filesystem (not in /proc/filesystems, no overlay module): use a kernel with CONFIG_OVERLAY_FS", release))
		}
		if err := overlay.KernelSupported(release); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("kernel too old for left4me-overlay: %w", err))
		} else if m, err := overlay.MethodFor(release); err == nil {
			g.Note("kernel %s mounts with method %s", release, m)
		}
	}
	if d.o.Live.Services && !p.SystemdBooted() {
		errs = multierror.Append(errs, errors.New("systemd is not running as init (no /run/systemd/system): install on a systemd host, or into a directory with --root"))
	}
	if _, err := p.LookPath("systemd-analyze"); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("systemd-analyze is missing (Debian package systemd), needed to verify the units: %w", err))
	}
	if d.o.Live.Packages {
		if _, err := packageManager(p); err != nil {
			errs = multierror.Append(errs, err)
		}
		if _, err := p.LookPath("visudo"); err != nil {
			g.Note("sudo is missing; the packages step installs it")
		}
	} else {
		for _, prog := range []string{"sudo", "visudo"} {
			if _, err := p.LookPath(prog); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("%s is missing (package sudo): install sudo, or let apply install packages", prog))
			}
		}
	}
	if d.root.IsHost() {
		if _, err := p.LookPath("sudo"); err == nil {
			g.Note("%s", d.sudoNote(ctx))
		}
	}
	for _, b := range binaryNames {
		src := filepath.Join(d.o.BinDir, b.name)
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			errs = multierror.Append(errs, fmt.Errorf("binary %s is missing from %s: build it with go build -o %s/ ./cmd/... or pass --bin-dir", b.name, d.o.BinDir, d.o.BinDir))
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		errs.ErrorFormat = func(es []error) string {
			parts := make([]string, len(es))
			for i, e := range es {
				parts[i] = e.Error()
			}
			return fmt.Sprintf("%d problem(s): %s", len(es), strings.Join(parts, "; "))
		}
		return errs
	}
	return nil
}
