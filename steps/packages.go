//go:build linux

package steps

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// pkgManager is one family of package tools.
type pkgManager struct {
	Name     string   // apt-get or dnf
	Packages []string // what left4me needs from it
}

// Packages left4me needs: sudo for the helper rules, and the 32-bit C and
// C++ runtimes that the Source dedicated server (srcds) links against.
// Never fuse-overlayfs: instances mount with kernel overlayfs.
var (
	aptPackages = []string{"sudo"}
	dnfPackages = []string{"sudo"}
)

func init() {
	if runtime.GOARCH == "amd64" {
		aptPackages = append(aptPackages, "lib32gcc-s1", "lib32stdc++6")
		dnfPackages = append(dnfPackages, "glibc.i686", "libstdc++.i686")
	}
}

// DistroPackages are the packages left4me needs from manager (apt-get or
// dnf) on this machine's architecture.
func DistroPackages(manager string) []string {
	if manager == "dnf" {
		return slices.Clone(dnfPackages)
	}
	return slices.Clone(aptPackages)
}

// packageManager picks apt-get or dnf from /etc/os-release.
func packageManager(p *Probe) (pkgManager, error) {
	b, err := p.OSRelease()
	if err != nil {
		return pkgManager{}, fmt.Errorf("read /etc/os-release to choose apt-get or dnf: %w", err)
	}
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && (k == "ID" || k == "ID_LIKE") {
			for _, id := range strings.Fields(strings.Trim(v, `"'`)) {
				ids[id] = true
			}
		}
	}
	switch {
	case ids["debian"] || ids["ubuntu"]:
		return pkgManager{Name: "apt-get", Packages: aptPackages}, nil
	case ids["fedora"] || ids["rhel"] || ids["centos"]:
		return pkgManager{Name: "dnf", Packages: dnfPackages}, nil
	}
	return pkgManager{}, fmt.Errorf("unsupported distribution (os-release IDs %v): left4me-deploy knows apt-get (Debian, Ubuntu) and dnf (Fedora, RHEL)", keys(ids))
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// packages installs the distribution packages left4me needs, asking the
// package database first and installing only what is missing.
type packages struct{ d *Host }

// Packages is the packages step of h's run.
func Packages(h *Host) Step { return packages{h} }

func (packages) Name() string { return "packages" }

func (s packages) ShouldRun(context.Context) (bool, string) {
	if s.d.o.Live.Packages {
		return true, ""
	}
	pm, err := packageManager(s.d.o.Probe)
	if err != nil {
		return false, "packages are not managed with --root"
	}
	return false, fmt.Sprintf("with --root, would ensure packages %s (%s) on the running system", strings.Join(pm.Packages, " "), pm.Name)
}

func (s packages) Run(ctx context.Context, g *Gate) error {
	pm, err := packageManager(s.d.o.Probe)
	if err != nil {
		return err
	}
	r := s.d.o.Runner
	var missing []string
	switch pm.Name {
	case "apt-get":
		missing, err = missingDeb(ctx, r, pm.Packages)
	case "dnf":
		missing, err = missingRPM(ctx, r, pm.Packages)
	}
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		g.Note("%s installed", strings.Join(pm.Packages, ", "))
		return nil
	}
	what := fmt.Sprintf("install %s (%s)", strings.Join(missing, " "), pm.Name)
	return g.Change(what, func() error {
		g.Log("running %s to %s; this can take minutes", pm.Name, strings.TrimSuffix(what, " ("+pm.Name+")"))
		if pm.Name == "dnf" {
			return r.Run(ctx, runner.Cmd{Argv: append([]string{"dnf", "install", "-y", "-q"}, missing...)})
		}
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := r.Run(ctx, runner.Cmd{Argv: []string{"apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=120"}, Env: env}); err != nil {
			return err
		}
		// Wait for a dpkg lock another apt holds instead of failing at once.
		return r.Run(ctx, runner.Cmd{Argv: append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120"}, missing...), Env: env})
	})
}

// missingDeb asks dpkg which of pkgs are not fully installed.
func missingDeb(ctx context.Context, r runner.Runner, pkgs []string) ([]string, error) {
	var out bytes.Buffer
	argv := append([]string{"dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n"}, pkgs...)
	err := r.Run(ctx, runner.Cmd{Argv: argv, Stdout: &out})
	// dpkg-query exits 1 when a package is unknown; the output still lists
	// the known ones, so only an error without output is a failure.
	if err != nil && runner.ExitCode(err) != 1 {
		return nil, fmt.Errorf("query installed packages: %w", err)
	}
	installed := map[string]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], "ii") {
			// Multi-arch packages print as name:arch.
			installed[strings.SplitN(f[0], ":", 2)[0]] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// missingRPM asks rpm which of pkgs are not installed.
func missingRPM(ctx context.Context, r runner.Runner, pkgs []string) ([]string, error) {
	var out bytes.Buffer
	err := r.Run(ctx, runner.Cmd{Argv: append([]string{"rpm", "-q"}, pkgs...), Stdout: &out})
	if err != nil && runner.ExitCode(err) < 1 {
		return nil, fmt.Errorf("query installed packages: %w", err)
	}
	var missing []string
	for _, line := range strings.Split(out.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "package "); ok {
			if name, ok = strings.CutSuffix(name, " is not installed"); ok {
				missing = append(missing, name)
			}
		}
	}
	return missing, nil
}
