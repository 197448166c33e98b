//go:build linux

// Package ctl is the logic of l4d2ctl, the host CLI that the web app (as the
// unprivileged left4me user) and operators use to start, stop, delete and
// inspect game-server instances. It reaches root only through the helpers:
// the overlayclient.Mounter (left4me-overlay) for the runtime overlay, and
// left4me-systemctl / left4me-journalctl for the unit, each through sudo -n.
//
// Progress goes to Stdout as "Step: ..." lines the moment each step begins,
// so the web app can stream them; warnings and errors go to Stderr.
package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/svchelper"
)

// Exit statuses of l4d2ctl, documented in its --help and docs/l4d2ctl.md.
const (
	ExitOK       = 0 // done (stop and delete also when they only warned)
	ExitFailed   = 1 // a step failed; the reason is on stderr
	ExitUsage    = 2 // bad arguments or an invalid instance name; nothing ran
	ExitNotFound = 3 // the instance does not exist (start, status)
	ExitRefused  = 4 // refused for safety: overlay already / still mounted
)

// Errors that decide the exit status; every error l4d2ctl returns wraps at
// most one of them.
var (
	ErrUsage          = errors.New("usage")
	ErrNotFound       = errors.New("instance not found")
	ErrAlreadyMounted = errors.New("already mounted")
	ErrStillMounted   = errors.New("still mounted")
)

// refusal is an error whose message is exactly msg (the web app matches
// some of them) and which wraps one of the sentinels above.
type refusal struct {
	msg  string
	kind error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), kind: kind}
}

// ExitCode maps an error from a Ctl method to l4d2ctl's exit status.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUsage), errors.Is(err, svchelper.ErrUsage), errors.Is(err, instance.ErrInvalidName):
		return ExitUsage
	case errors.Is(err, ErrNotFound):
		return ExitNotFound
	case errors.Is(err, ErrAlreadyMounted), errors.Is(err, ErrStillMounted):
		return ExitRefused
	}
	return ExitFailed
}

// Defaults of the settings in Ctl.
const (
	DefaultSudo = hostpath.Sudo
)

// Ctl runs the l4d2ctl verbs. Every outside effect goes through Runner (the
// service helpers) and Mounter (the overlay helper); paths through Root.
type Ctl struct {
	Root    hostpath.Root
	Runner  runner.Runner
	Mounter overlayclient.Mounter

	// Sudo is the sudo binary the helpers are run through (with -n); empty
	// runs them directly, for tests and for root.
	Sudo string
	// SystemctlHelper and JournalHelper are the helpers' paths; empty means
	// the installed ones (hostpath.SystemctlHelper, hostpath.JournalHelper).
	SystemctlHelper string
	JournalHelper   string

	// Settle says how long Start watches the unit; nil means DefaultSettle.
	// Sleep and Now replace the clock for tests; nil means the real one.
	Settle *Settle
	Sleep  func(context.Context, time.Duration)
	Now    func() time.Time

	Stdout io.Writer
	Stderr io.Writer
}

// helperArgv is the command line that runs helper with args, through sudo -n
// unless Sudo is empty.
func (c *Ctl) helperArgv(helper string, args ...string) []string {
	var argv []string
	if c.Sudo != "" {
		argv = append(argv, c.Sudo, "-n")
	}
	return append(append(argv, helper), args...)
}

// verbArgv is the command line that runs "helper verb name": through sudo
// -n, the entry point of that verb (hostpath.EntryPoint), which is what the
// sudoers rules grant; without sudo, the helper itself.
func (c *Ctl) verbArgv(helper, verb, name string) []string {
	if c.Sudo != "" {
		return []string{c.Sudo, "-n", hostpath.EntryPoint(helper, verb), name}
	}
	return []string{helper, verb, name}
}

// listArgv is the command line of left4me-systemctl list-units: through sudo
// -n its entry point, which takes no argument; without sudo, the helper.
func (c *Ctl) listArgv() []string {
	if c.Sudo != "" {
		return []string{c.Sudo, "-n", hostpath.EntryPoint(c.systemctlHelper(), svchelper.ListUnits)}
	}
	return []string{c.systemctlHelper(), svchelper.ListUnits}
}

func (c *Ctl) systemctlHelper() string {
	if c.SystemctlHelper != "" {
		return c.SystemctlHelper
	}
	return hostpath.SystemctlHelper
}

func (c *Ctl) journalHelper() string {
	if c.JournalHelper != "" {
		return c.JournalHelper
	}
	return hostpath.JournalHelper
}

// unit runs left4me-systemctl VERB NAME and returns its standard output.
func (c *Ctl) unit(ctx context.Context, verb, name string) (string, error) {
	var out bytes.Buffer
	err := c.Runner.Run(ctx, runner.Cmd{Argv: c.verbArgv(c.systemctlHelper(), verb, name), Stdout: &out})
	return out.String(), err
}

func (c *Ctl) step(format string, args ...any) {
	fmt.Fprintf(c.Stdout, "Step: "+format+"\n", args...)
}

func (c *Ctl) warn(format string, args ...any) {
	fmt.Fprintf(c.Stderr, "l4d2ctl: warning: "+format+"\n", args...)
}

// path returns the real path of a host path (inside Root).
func (c *Ctl) path(hostPath string) string { return c.Root.Join(hostPath) }

// Start mounts the runtime overlay of name and starts its unit. It refuses,
// before any mount, when merged is already a mount point; if the unit does
// not come up it unmounts again and returns the unit's reason.
func (c *Ctl) Start(ctx context.Context, name string) error {
	if err := instance.ValidateName(name); err != nil {
		return err
	}
	inst, err := c.openInstance(name)
	if err != nil {
		return err
	}
	defer inst.close()
	env, err := inst.entry("instance.env")
	if err != nil {
		return err
	}
	if !env.exists {
		return refuse(ErrNotFound, "instance %s not found: %s does not exist (create the instance first)", name, c.path(hostpath.InstanceEnv(name)))
	}
	if !env.isRegular() {
		return fmt.Errorf("start %s: %s is not a regular file", name, c.path(hostpath.InstanceEnv(name)))
	}
	merged := c.path(hostpath.Merged(name))
	m, err := inst.entry("merged")
	if err != nil {
		return err
	}
	if m.mountPoint {
		return refuse(ErrAlreadyMounted, "runtime overlay already mounted at %s; refusing to double-mount", merged)
	}
	inst.close()

	c.step("mounting runtime overlay...")
	if err := c.Mounter.Mount(ctx, name); err != nil {
		return fmt.Errorf("mount runtime overlay of %s: %w", name, err)
	}
	c.step("starting server...")
	unit := hostpath.ServerUnitName(name)
	startErr := c.startUnit(ctx, name)
	if startErr == nil {
		fmt.Fprintf(c.Stdout, "Started %s.\n", unit)
		return nil
	}
	// The unit did not come up, or came up and went down again: ask it
	// why before anything else changes, stop a server that would restart
	// on its own, then leave no stale mount behind.
	reason := c.unitReason(ctx, name)
	journal := c.journalTail(ctx, name)
	msg := fmt.Sprintf("start %s: %v", unit, startErr)
	if errors.Is(startErr, errCrashLoop) {
		c.step("start failed; stopping server...")
		if _, err := c.unit(ctx, "stop", name); err != nil {
			msg += fmt.Sprintf("\nstop after the failed start also failed: %v", err)
		}
	}
	c.step("start failed; unmounting runtime overlay...")
	if err := c.Mounter.Unmount(ctx, name); err != nil {
		msg += fmt.Sprintf("\nunmount after the failed start also failed, the runtime overlay may still be mounted at %s: %v", merged, err)
	}
	if reason != "" {
		msg += "\n" + reason
	}
	if journal != "" {
		msg += "\n" + journal
	}
	return errors.New(msg)
}

// startUnit resets the unit's failed state, starts it and watches it
// settle (settle.go), so a server that dies at once (status=200/CHDIR) or
// exits and restarts in a loop counts as a failed start.
func (c *Ctl) startUnit(ctx context.Context, name string) error {
	// A server that crash-looped earlier hit systemd's start limit, and
	// then refuses every start until its failed state is reset; the
	// operator's start is the moment to forget that. A unit that was never
	// loaded makes this fail, which is fine.
	c.unit(ctx, "reset-failed", name)
	if _, err := c.unit(ctx, "start", name); err != nil {
		return err
	}
	return c.settle(ctx, name)
}

// unitReason returns left4me-systemctl status NAME's output (which exits
// non-zero for a failed unit) up to its journal lines, which journalTail
// gives on their own, for the error of a failed start.
func (c *Ctl) unitReason(ctx context.Context, name string) string {
	out, err := c.unit(ctx, "status", name)
	out, _, _ = strings.Cut(out, "\n\n")
	out = strings.TrimRight(out, "\n")
	if out == "" && err != nil {
		return "(unit status unavailable: " + err.Error() + ")"
	}
	return out
}

// unitState returns the unit's state as systemctl is-active prints it
// (active, inactive, failed, activating, ...), or "unknown" with the error
// when the helper printed nothing. is-active exits non-zero for every state
// but active, so the printed word decides, not the exit status.
func (c *Ctl) unitState(ctx context.Context, name string) (string, error) {
	out, err := c.unit(ctx, "is-active", name)
	if state := strings.TrimSpace(out); state != "" && !strings.ContainsAny(state, " \n") {
		return state, nil
	}
	if err == nil {
		err = fmt.Errorf("is-active printed %q", out)
	}
	return "unknown", err
}

// Stop stops the unit of name, then unmounts its runtime overlay. It is
// idempotent: what cannot be done (a unit that will not stop, an unmount that
// fails, an instance that never existed) is a warning on stderr, not an
// error.
func (c *Ctl) Stop(ctx context.Context, name string) error {
	if err := instance.ValidateName(name); err != nil {
		return err
	}
	c.step("stopping server...")
	if _, err := c.unit(ctx, "stop", name); err != nil {
		c.warn("stop %s: %v", hostpath.ServerUnitName(name), err)
	}
	c.unmountIfMounted(ctx, name, func(format string, args ...any) { c.warn(format, args...) })
	fmt.Fprintf(c.Stdout, "Stopped %s.\n", name)
	return nil
}

// unmountIfMounted unmounts merged when it is a mount point (or when that
// cannot be told), reporting problems through problem. It returns whether
// merged is known to be unmounted afterwards.
func (c *Ctl) unmountIfMounted(ctx context.Context, name string, problem func(string, ...any)) bool {
	merged := c.path(hostpath.Merged(name))
	mounted, err := c.isMounted(name)
	if err == nil && !mounted {
		c.step("runtime overlay not mounted; nothing to unmount.")
		return true
	}
	if err != nil {
		problem("check %s: %v; unmounting anyway", merged, err)
	}
	c.step("unmounting runtime overlay...")
	if err := c.Mounter.Unmount(ctx, name); err != nil {
		problem("unmount runtime overlay at %s: %v", merged, err)
	}
	if mounted, err := c.isMounted(name); err != nil || mounted {
		if err == nil {
			problem("runtime overlay still mounted at %s", merged)
		}
		return false
	}
	return true
}

// isMounted reports whether runtime/NAME/merged is a mount point. A missing
// instance or merged dir is not mounted.
func (c *Ctl) isMounted(name string) (bool, error) {
	inst, err := c.openInstance(name)
	if err != nil {
		return false, err
	}
	defer inst.close()
	if !inst.exists() {
		return false, nil
	}
	m, err := inst.entry("merged")
	return m.mountPoint, err
}

// Delete stops the unit of name, unmounts its runtime overlay and removes
// runtime/NAME. A missing instance is a no-op. Nothing is removed while
// merged (or any entry of runtime/NAME) is still a mount point, and the
// removal never follows a symlink nor enters a mount point.
func (c *Ctl) Delete(ctx context.Context, name string) error {
	if err := instance.ValidateName(name); err != nil {
		return err
	}
	dir := c.path(hostpath.Instance(name))
	inst, err := c.openInstance(name)
	if err != nil {
		return err
	}
	exists := inst.exists()
	inst.close()
	if !exists {
		c.step("instance %s does not exist; nothing to delete.", name)
		return nil
	}
	c.step("stopping server...")
	if _, err := c.unit(ctx, "stop", name); err != nil {
		c.warn("stop %s: %v", hostpath.ServerUnitName(name), err)
	}
	var problems []string
	c.unmountIfMounted(ctx, name, func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	})
	c.step("removing %s...", dir)
	if err := c.removeInstance(name); err != nil {
		if len(problems) > 0 {
			err = fmt.Errorf("%w\n%s", err, strings.Join(problems, "\n"))
		}
		return err
	}
	for _, p := range problems {
		c.warn("%s", p)
	}
	fmt.Fprintf(c.Stdout, "Deleted %s.\n", name)
	return nil
}

// Status is the state of one instance, as status and list print it.
type Status struct {
	Name    string `json:"name"`
	Exists  bool   `json:"exists"`  // runtime/NAME/instance.env is there
	Mounted bool   `json:"mounted"` // runtime/NAME/merged is a mount point
	Unit    string `json:"unit"`
	State   string `json:"state"` // systemctl is-active's word, or "unknown"
}

// Status returns the state of one instance. A missing instance returns its
// Status (Exists false) together with an error wrapping ErrNotFound; a unit
// state that cannot be read is "unknown" with an error. It ends within
// ListTimeout.
func (c *Ctl) Status(ctx context.Context, name string) (Status, error) {
	if err := instance.ValidateName(name); err != nil {
		return Status{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, ListTimeout)
	defer cancel()
	st, errs := c.localStatus(name)
	state, err := c.unitState(ctx, name)
	st.State = state
	if err != nil {
		errs = append(errs, fmt.Errorf("state of %s: %w", st.Unit, err))
	}
	if !st.Exists {
		errs = append(errs, refuse(ErrNotFound, "instance %s not found: %s does not exist", name, c.path(hostpath.InstanceEnv(name))))
	}
	return st, errors.Join(errs...)
}

// localStatus is the part of Status read from the state dir: whether
// instance.env exists and merged is a mount point. It never looks inside
// a mount.
func (c *Ctl) localStatus(name string) (Status, []error) {
	st := Status{Name: name, Unit: hostpath.ServerUnitName(name)}
	inst, err := c.openInstance(name)
	if err != nil {
		return st, []error{err}
	}
	defer inst.close()
	var errs []error
	if inst.exists() {
		if env, err := inst.entry("instance.env"); err != nil {
			errs = append(errs, err)
		} else {
			st.Exists = env.exists
		}
		if m, err := inst.entry("merged"); err != nil {
			errs = append(errs, err)
		} else {
			st.Mounted = m.mountPoint
		}
	}
	return st, errs
}

// LogOptions are the options of logs.
type LogOptions struct {
	Lines  int  // -n: 0 means journalctl's default
	Follow bool // -f
}

// Logs runs left4me-journalctl NAME [-n N] [-f] with its output going
// straight to Stdout and Stderr.
func (c *Ctl) Logs(ctx context.Context, name string, o LogOptions) error {
	if err := instance.ValidateName(name); err != nil {
		return err
	}
	args := []string{name}
	if o.Lines != 0 {
		if _, err := svchelper.ParseLines(strconv.Itoa(o.Lines)); err != nil {
			return err
		}
		args = append(args, "-n", strconv.Itoa(o.Lines))
	}
	if o.Follow {
		args = append(args, "-f")
	}
	argv := c.helperArgv(c.journalHelper(), args...)
	err := c.Runner.Run(ctx, runner.Cmd{Argv: argv, Stdout: c.Stdout, Stderr: c.Stderr})
	if err != nil {
		// Its stderr already went to ours; say only who failed and how.
		return fmt.Errorf("logs of %s: %s exited with status %d", name, strings.Join(argv, " "), runner.ExitCode(err))
	}
	return nil
}
