package overlayclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/runner"
)

// DefaultSudo is the sudo binary SudoMounter runs unless told otherwise.
const DefaultSudo = hostpath.Sudo

// SudoMounter is the Mounter for unprivileged callers such as l4d2ctl: it
// runs `sudo -n /usr/local/libexec/left4me/left4me-overlay-VERB NAME`, the
// entry point that runs left4me-overlay VERB NAME; an invalid NAME never
// reaches sudo. The zero value is ready to use.
type SudoMounter struct {
	// Runner runs the command; nil means runner.Exec{}.
	Runner runner.Runner
	// Sudo is the sudo binary; "" means DefaultSudo.
	Sudo string
	// Helper is the helper's path; its entry points (Helper-mount,
	// Helper-umount) are what the sudoers rules name. "" means
	// hostpath.OverlayHelper.
	Helper string
	// Stderr, if set, receives the helper's stderr as it is written; it is
	// also part of the returned error either way.
	Stderr io.Writer
}

// HelperError is a failed helper run: the verb, the instance, the exit code
// and the helper's own stderr line(s), which say what was refused and why.
type HelperError struct {
	Verb, Name string
	Code       int
	Stderr     string
	Err        error // the underlying *runner.ExitError
}

func (e *HelperError) Error() string {
	msg := strings.TrimPrefix(strings.TrimSpace(e.Stderr), "left4me-overlay: ")
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("left4me-overlay %s %s failed (exit %d): %s", e.Verb, e.Name, e.Code, msg)
}

func (e *HelperError) Unwrap() error { return e.Err }

// NameFromMerged returns the instance name of a merged path
// (…/runtime/NAME/merged), validated. The path is not cleaned: a ".." or "."
// component is refused rather than resolved, so the name is always the
// directory the caller meant.
func NameFromMerged(merged string) (string, error) {
	p := strings.TrimSuffix(merged, "/")
	parts := strings.Split(p, "/")
	for _, c := range parts {
		if c == ".." || c == "." {
			return "", fmt.Errorf("overlay: merged dir %q contains %q", merged, c)
		}
	}
	n := len(parts)
	if n < 3 || parts[n-1] != "merged" || parts[n-3] != "runtime" {
		return "", fmt.Errorf("overlay: %q is not an instance's merged dir (want .../runtime/NAME/merged)", merged)
	}
	if err := instance.ValidateName(parts[n-2]); err != nil {
		return "", fmt.Errorf("overlay: merged dir %q: %w", merged, err)
	}
	return parts[n-2], nil
}

// Mount implements Mounter.
func (m SudoMounter) Mount(ctx context.Context, name string) error {
	return m.run(ctx, "mount", name)
}

// Unmount implements Mounter.
func (m SudoMounter) Unmount(ctx context.Context, name string) error {
	return m.run(ctx, "umount", name)
}

func (m SudoMounter) run(ctx context.Context, verb, name string) error {
	if err := instance.ValidateName(name); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	r := m.Runner
	if r == nil {
		r = runner.Exec{}
	}
	sudo, helper := m.Sudo, m.Helper
	if sudo == "" {
		sudo = DefaultSudo
	}
	if helper == "" {
		helper = hostpath.OverlayHelper
	}
	// The rules grant the entry point of each verb, not the helper with
	// arguments (see package sudoers).
	err := r.Run(ctx, runner.Cmd{Argv: []string{sudo, "-n", hostpath.EntryPoint(helper, verb), name}, Stdout: io.Discard, Stderr: m.Stderr})
	if err == nil {
		return nil
	}
	he := &HelperError{Verb: verb, Name: name, Code: runner.ExitCode(err), Err: err}
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		he.Stderr = ee.Stderr
	}
	return he
}
