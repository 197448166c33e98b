//go:build linux

package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/overlay"
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
type preflight struct{ d *Host }

// Preflight is the preflight step of h's run.
func Preflight(h *Host) Step { return preflight{h} }

func (preflight) Name() string { return "preflight" }

func (s preflight) Run(ctx context.Context, g *Gate) error {
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
	for _, b := range Programs {
		src := filepath.Join(d.o.BinDir, b.Name)
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			errs = multierror.Append(errs, fmt.Errorf("binary %s is missing from %s: build it with go build -o %s/ ./cmd/... or pass --bin-dir", b.Name, d.o.BinDir, d.o.BinDir))
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

// SudoKind names the sudo of a "sudo --version" output: "sudo 1.9.16p2" or
// "sudo-rs 0.2.5", from its first line; ok is false for anything else.
func SudoKind(versionOutput string) (kind string, ok bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(versionOutput), "\n")
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "Sudo" && f[1] == "version":
		return "sudo " + f[2], true
	case len(f) >= 2 && f[0] == "sudo-rs":
		return "sudo-rs " + f[1], true
	}
	return "", false
}

// sudoNote says which sudo the host has at hostpath.Sudo (the program
// l4d2ctl runs), with its version and, when it is a link (as with a
// diverted sudo-rs), where it leads. It is a note, not a check: both sudos
// work, and the verify step asks the one found what it grants.
func (d *Host) sudoNote(ctx context.Context) string {
	// sudo prints its version on stdout, sudo-rs 0.2.5 on stderr. (Two
	// buffers: one shared by both streams would lose what one writes.)
	var out, stderr bytes.Buffer
	if err := d.o.Runner.Run(ctx, runner.Cmd{Argv: []string{hostpath.Sudo, "--version"}, Env: sudoEnv, Stdout: &out, Stderr: &stderr}); err != nil {
		return fmt.Sprintf("%s --version failed: %s", hostpath.Sudo, refusal(err))
	}
	if strings.TrimSpace(out.String()) == "" {
		out = stderr
	}
	kind, ok := SudoKind(out.String())
	if !ok {
		line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		if len(line) > 80 {
			line = line[:80]
		}
		kind = fmt.Sprintf("an unknown sudo (%q)", line)
	}
	where := hostpath.Sudo
	if fi, err := os.Lstat(hostpath.Sudo); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(hostpath.Sudo); err == nil {
			where += " -> " + real
		}
	}
	return fmt.Sprintf("sudo is %s (%s)", kind, where)
}
