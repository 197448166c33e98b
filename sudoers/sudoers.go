// Package sudoers renders the sudo rules that let the web app's user run the
// privileged helpers, and the entry points they grant; validates a rendered
// file with visudo, and installs it atomically so that a file visudo rejects
// never reaches /etc/sudoers.d.
//
// The rules must mean the same to sudo 1.9 and to sudo-rs, which some hosts
// have as /usr/bin/sudo (Ubuntu 26.04; Debian 13 offers it). sudo-rs 0.2.5
// matches a "*" in a command's arguments only literally and later releases
// accept only a final one, so no rule carries an argument pattern. Instead
// each verb of a helper has its own entry point (left4me-overlay-mount,
// left4me-systemctl-start, ...), granted as a bare command, which both sudos
// read as "with any arguments"; the entry point passes exactly one argument
// on to its helper with the verb fixed, and the helper validates the name.
// The helpers, not sudoers, stay the parser of record: a name rule written
// as a sudo pattern would be a second copy that can drift, and could not be
// written for sudo-rs at all.
package sudoers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	_ "embed"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// Params are the inputs of the rendered rules.
type Params struct {
	// User may run the helpers (left4me on a real host).
	User string
	// Helper paths as they are on the host where sudo runs them.
	OverlayHelper   string
	SystemctlHelper string
	JournalHelper   string
}

// Errors of Render, wrapped with the offending value.
var (
	ErrBadUser = errors.New("invalid user name for sudoers")
	ErrBadPath = errors.New("invalid helper path for sudoers")
)

//go:embed left4me.sudoers.tmpl
var tmplText string

var tmpl = template.Must(template.New("sudoers").Option("missingkey=error").Parse(tmplText))

var userRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// pathRE admits only characters with no meaning in sudoers command specs.
var pathRE = regexp.MustCompile(`^/[A-Za-z0-9/._+-]+$`)

// Render returns the sudoers drop-in for p. The output is stable: the same
// Params always give the same bytes.
func Render(p Params) ([]byte, error) {
	if !userRE.MatchString(p.User) {
		return nil, fmt.Errorf("%w: %q (want lowercase letters, digits, '-' or '_', at most 32)", ErrBadUser, p.User)
	}
	for _, h := range []string{p.OverlayHelper, p.SystemctlHelper, p.JournalHelper} {
		if err := checkPath(h); err != nil {
			return nil, err
		}
	}
	var overlay, systemctl []string
	for _, e := range EntryPoints(p) {
		if e.Helper == p.OverlayHelper {
			overlay = append(overlay, e.Path)
		} else {
			systemctl = append(systemctl, e.Path)
		}
	}
	data := struct{ User, Overlay, Systemctl, Journal string }{p.User,
		strings.Join(overlay, ", "), strings.Join(systemctl, ", "), p.JournalHelper}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render sudoers: %w", err)
	}
	return b.Bytes(), nil
}

func checkPath(h string) error {
	if !pathRE.MatchString(h) || filepath.Clean(h) != h {
		return fmt.Errorf("%w: %q (want a clean absolute path of letters, digits and ./_+-)", ErrBadPath, h)
	}
	return nil
}

// Visudo is the command that checks a sudoers file; tests may point it
// elsewhere. "visudo" is looked up on PATH.
const Visudo = "visudo"

// Validate checks the sudoers file at path with "visudo -c -f path". The
// error carries visudo's own message.
func Validate(ctx context.Context, r runner.Runner, path string) error {
	return ValidateWith(ctx, r, Visudo, path)
}

// ValidateWith is Validate with the visudo program at visudo.
func ValidateWith(ctx context.Context, r runner.Runner, visudo, path string) error {
	if err := r.Run(ctx, runner.Cmd{Argv: []string{visudo, "-c", "-f", path}}); err != nil {
		return fmt.Errorf("visudo rejected the rendered sudoers file: %w", err)
	}
	return nil
}

// Mode is the mode of an installed rules file, root:root: what visudo and
// sudo require.
const Mode fs.FileMode = 0o440

// Install writes data to path atomically when it differs from what is there
// (bytes, mode 0440 or owner root), validating the temporary file with visudo
// first. A file visudo rejects is removed and the installed one stays. It
// reports whether the file changed.
func Install(ctx context.Context, r runner.Runner, path string, data []byte) (bool, error) {
	f := hostfile.File{Path: path, Data: data, Mode: Mode, Owner: hostfile.RootOwner}
	st, err := f.Check()
	if err != nil {
		return false, fmt.Errorf("install sudoers %s: %w", path, err)
	}
	if st.Same {
		return false, nil
	}
	if err := f.Write(func(tmp string) error { return Validate(ctx, r, tmp) }); err != nil {
		return false, fmt.Errorf("install sudoers %s: %w", path, err)
	}
	return true, nil
}

// Lines returns the rule lines of a rendered file: not blank, not comments.
func Lines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, l)
		}
	}
	return out
}
