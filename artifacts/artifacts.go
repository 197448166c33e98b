// Package artifacts renders the systemd units the installer installs, from
// templates embedded in the binary and parsed once, in a stable order and
// without timestamps, and checks them with systemd-analyze verify.
package artifacts

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
)

//go:embed *.tmpl
var tmplFS embed.FS

var tmpl = template.Must(template.New("").Option("missingkey=error").ParseFS(tmplFS, "*.tmpl"))

// StateMountUnit bind-mounts the state root onto itself with nosuid,nodev
// (its name is the escaped path, as systemd requires of a mount unit). The
// web and server units are ordered after it.
const StateMountUnit = "var-lib-left4me.mount"

// StateMountDeferred is a marker in root's own hostpath.DeployRunDir (gone
// at the next boot) that keeps StateMountUnit from starting while mounts
// below the state root would be hidden by it.
const StateMountDeferred = hostpath.DeployRunDir + "/" + StateMountDeferredName

// StateMountDeferredName is StateMountDeferred's name in its directory.
const StateMountDeferredName = "state-mount-deferred"

// DefaultWebExec is the web app's command line unless the operator sets one.
const DefaultWebExec = "/usr/local/bin/left4me-web"

// Params are the inputs of the rendered units.
type Params struct {
	User, Group string
	// WebExec is the ExecStart= command line of left4me-web.service; systemd
	// specifiers (%i, %%) keep their meaning.
	WebExec string
}

// DefaultParams are the units of a real host.
func DefaultParams() Params {
	return Params{User: hostpath.User, Group: hostpath.Group, WebExec: DefaultWebExec}
}

// Unit is one rendered unit file.
type Unit struct {
	Name string // file name, e.g. left4me-web.service
	Data []byte
}

// Errors of Render.
var (
	ErrBadWebExec = errors.New("invalid web app command line")
	ErrBadAccount = errors.New("invalid user or group name for the units")
)

var accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// UnitNames are the names of the units Render renders, in install order.
func UnitNames() []string { return []string{hostpath.WebUnit, hostpath.ServerUnit, StateMountUnit} }

// Render returns every unit, in install order.
func Render(p Params) ([]Unit, error) {
	if !accountRE.MatchString(p.User) || !accountRE.MatchString(p.Group) {
		return nil, fmt.Errorf("%w: user %q, group %q", ErrBadAccount, p.User, p.Group)
	}
	if _, err := WebExecPath(p.WebExec); err != nil {
		return nil, err
	}
	data := struct {
		Params
		StateDir, RuntimeDir, L4d2ctl, StateMount, StateMountDeferred string
	}{p, hostpath.StateDir, hostpath.RuntimeDir, hostpath.L4d2ctl, StateMountUnit, StateMountDeferred}
	var units []Unit
	for _, name := range UnitNames() {
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, name+".tmpl", data); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		units = append(units, Unit{Name: name, Data: b.Bytes()})
	}
	return units, nil
}

// WebExecPath checks a web ExecStart= command line and returns its program:
// one line, no control characters, the program an absolute path (after
// systemd's optional "-@:+!" prefixes).
func WebExecPath(cmdline string) (string, error) {
	if strings.TrimSpace(cmdline) == "" {
		return "", fmt.Errorf("%w: empty", ErrBadWebExec)
	}
	for _, r := range cmdline {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: %q holds a control character", ErrBadWebExec, cmdline)
		}
	}
	prog := strings.TrimLeft(strings.Fields(cmdline)[0], "-@:+!")
	if !filepath.IsAbs(prog) {
		return "", fmt.Errorf("%w: %q: the program must be an absolute path", ErrBadWebExec, cmdline)
	}
	return prog, nil
}

// SystemdAnalyze is the verifier's program, looked up on PATH.
const SystemdAnalyze = "systemd-analyze"

// Verify runs "systemd-analyze verify" on the unit files at paths (each
// named as its unit) and fails on any complaint, even one systemd-analyze
// itself only warns about. A line for which tolerate returns true is
// returned as a warning instead.
func Verify(ctx context.Context, r runner.Runner, paths []string, tolerate func(line string) bool) (warnings []string, err error) {
	return VerifyWith(ctx, r, SystemdAnalyze, paths, tolerate)
}

// VerifyWith is Verify with the systemd-analyze program at analyze.
func VerifyWith(ctx context.Context, r runner.Runner, analyze string, paths []string, tolerate func(line string) bool) (warnings []string, err error) {
	// Separate buffers: one bytes.Buffer shared by two writers loses data.
	var stdout, stderr bytes.Buffer
	argv := append([]string{analyze, "verify", "--man=no", "--generators=no"}, paths...)
	runErr := r.Run(ctx, runner.Cmd{Argv: argv, Stdout: &stdout, Stderr: &stderr})
	var problems []string
	for _, line := range strings.Split(stdout.String()+"\n"+stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case tolerate != nil && tolerate(line):
			warnings = append(warnings, line)
		default:
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		return warnings, fmt.Errorf("systemd-analyze verify: %s", strings.Join(problems, "; "))
	}
	if runErr != nil && len(warnings) == 0 {
		return warnings, fmt.Errorf("systemd-analyze verify: %w", runErr)
	}
	return warnings, nil
}

// MissingProgram returns a tolerate function for Verify that accepts only
// systemd-analyze's complaint that unit's program prog is not installed:
// the web app is installed separately and may come after its unit, and
// l4d2ctl, which the server unit runs, lands under --root or (in a dry run)
// not at all. A template unit (NAME@.service) matches any of its instances.
func MissingProgram(unit, prog string) func(string) bool {
	suffix := fmt.Sprintf(": Command %s is not executable: No such file or directory", prog)
	prefix, tmpl := strings.CutSuffix(unit, "@.service")
	return func(line string) bool {
		u, ok := strings.CutSuffix(line, suffix)
		if !ok {
			return false
		}
		if !tmpl {
			return u == unit
		}
		inst, ok := strings.CutPrefix(u, prefix+"@")
		return ok && strings.HasSuffix(inst, ".service")
	}
}

// AnyOf tolerates a line that any of tolerate accepts.
func AnyOf(tolerate ...func(string) bool) func(string) bool {
	return func(line string) bool {
		for _, t := range tolerate {
			if t(line) {
				return true
			}
		}
		return false
	}
}
