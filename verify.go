//go:build linux

package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/runner"
	"github.com/left4me/left4me-deploy/steps"
	"github.com/left4me/left4me-deploy/sudoers"
)

// verify checks the result: helpers, entry points, l4d2ctl and left4me-deploy root-owned
// 0755, sudoers 0440 and accepted by visudo together with the rest of the
// system's rules, the host's own sudo granting the web app's user exactly
// the helpers' contract (verify_sudo.go), and the web unit active if this
// run restarted or started it.
type verify struct{ d *deployer }

func (verify) Name() string { return "verify" }

func (s verify) ShouldRun(context.Context) (bool, string) {
	if s.d.o.DryRun {
		return false, "dry run: nothing installed to verify"
	}
	return true, ""
}

func (s verify) Run(ctx context.Context, g *steps.Gate) error {
	d := s.d
	var problems []string
	check := func(host string, mode fs.FileMode) {
		fi, err := os.Lstat(d.path(host))
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		f := steps.File{Path: d.path(host), Mode: mode, Owner: d.rootOwner()}
		if !fi.Mode().IsRegular() || !steps.MetaEqual(fi, f.Mode, f.Owner) {
			problems = append(problems, fmt.Sprintf("%s is %v, want a regular file %#o %s", host, fi.Mode(), mode, ownerString(f.Owner)))
		}
	}
	for _, b := range binaryNames {
		check(b.dest, 0o755)
	}
	check(hostpath.DeployTool, 0o755)
	for _, e := range sudoers.EntryPoints(d.helperParams()) {
		check(e.Path, 0o755)
	}
	check(hostpath.SudoersFile, 0o440)
	if d.root.IsHost() && d.o.Live.Services {
		if visudo, err := d.o.Probe.LookPath(sudoers.Visudo); err == nil {
			if err := d.o.Runner.Run(ctx, runner.Cmd{Argv: []string{visudo, "-c"}}); err != nil {
				problems = append(problems, "the system's sudoers as a whole: "+err.Error())
			}
		}
		problems = append(problems, d.sudoGrants(ctx, g)...)
	}
	if d.o.Live.Services {
		if d.restarted {
			active, err := d.o.Services.IsActive(ctx, hostpath.WebUnit)
			if err != nil || !active {
				problems = append(problems, fmt.Sprintf("%s is not active after its restart (see journalctl -u %s)", hostpath.WebUnit, hostpath.WebUnit))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
