//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/left4me/left4me-deploy/internal/ctl"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/svchelper"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// The CLI is a handful of verbs, each with one NAME and at most two flags
// that may come before or after it (l4d2ctl logs NAME -n 50 -f): the
// standard flag package, parsed around the positional argument, keeps that
// and the exit statuses exactly as documented below.

const usage = `usage: l4d2ctl [global options] VERB [NAME] [options]

Starts, stops, deletes and inspects left4me game-server instances. Runs as the
left4me user; reaches root only through sudo -n and the helpers in
/usr/local/libexec/left4me (left4me-overlay, left4me-systemctl,
left4me-journalctl).

verbs:
  start NAME             mount the runtime overlay, start left4me-server@NAME.service,
                         wait until it stays up; if it does not come up or
                         exits and restarts, stop it, unmount again and show
                         its last journal lines
  stop NAME              stop the unit, unmount the overlay (idempotent: what
                         cannot be done is a warning)
  delete NAME            stop, unmount, remove /var/lib/left4me/runtime/NAME;
                         a missing instance is a no-op
  status NAME [--json]   instance, runtime overlay mounted or not, unit state
  list [--json]          the same for every instance in /var/lib/left4me/runtime
  logs NAME [-n N] [-f]  the unit's journal: last N lines (1 to 10000), follow
  run NAME               (what left4me-server@NAME.service runs, as left4me, from
                         merged/) read instance.env and exec
                         ./srcds_run -game left4dead2 $SRCDS_ARGS with its variables

global options (for tests and staging trees; the defaults are the installed host):
  --root DIR               state under DIR/var/lib/left4me (env LEFT4ME_ROOT)
  --sudo PATH              sudo to run the helpers with (default /usr/bin/sudo; env L4D2CTL_SUDO)
  --no-sudo                run the helpers directly, e.g. as root (env L4D2CTL_NO_SUDO=1)
  --overlay-helper PATH    (env L4D2CTL_OVERLAY_HELPER)
  --systemctl-helper PATH  (env L4D2CTL_SYSTEMCTL_HELPER)
  --journal-helper PATH    (env L4D2CTL_JOURNAL_HELPER)
  --settle DURATION        how long start waits for the server to stay up
                           (default 2s, within at most 10s; env L4D2CTL_SETTLE)

output:
  start, stop and delete print "Step: ..." lines on stdout as each step begins,
  then one closing line ("Started left4me-server@NAME.service.", "Stopped NAME.",
  "Deleted NAME."). Warnings and errors go to stderr, prefixed "l4d2ctl:".
  On SIGINT/SIGTERM, start, stop and delete finish their steps (no half-done
  state); logs -f, status and list stop.

exit status:
  0  done (stop and delete also when they could only warn)
  1  a step failed; the reason is on stderr
  2  bad arguments or an invalid instance name; nothing was run
  3  no such instance (start, status)
  4  refused: runtime overlay already mounted (start) or still mounted (delete)
`

// settings are the global options.
type settings struct {
	root                           string
	sudo                           string
	noSudo                         bool
	overlayHelper, systemctlHelper string
	journalHelper                  string
	settle                         string
}

func (s *settings) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&s.root, "root", getenv(hostpath.RootEnv), "")
	sudo := getenv("L4D2CTL_SUDO")
	if sudo == "" {
		sudo = ctl.DefaultSudo
	}
	fs.StringVar(&s.sudo, "sudo", sudo, "")
	fs.BoolVar(&s.noSudo, "no-sudo", getenv("L4D2CTL_NO_SUDO") == "1", "")
	fs.StringVar(&s.overlayHelper, "overlay-helper", getenv("L4D2CTL_OVERLAY_HELPER"), "")
	fs.StringVar(&s.systemctlHelper, "systemctl-helper", getenv("L4D2CTL_SYSTEMCTL_HELPER"), "")
	fs.StringVar(&s.journalHelper, "journal-helper", getenv("L4D2CTL_JOURNAL_HELPER"), "")
	fs.StringVar(&s.settle, "settle", getenv("L4D2CTL_SETTLE"), "")
}

// settleFor parses --settle: a duration from 0 to ctl.DefaultSettleWithin.
func (s *settings) settleFor() (*ctl.Settle, error) {
	if s.settle == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(s.settle)
	if err != nil || d < 0 || d > ctl.DefaultSettleWithin {
		return nil, fmt.Errorf("--settle %.40q: want a duration from 0s to %s", s.settle, ctl.DefaultSettleWithin)
	}
	st := ctl.DefaultSettle
	st.For = d
	return &st, nil
}

// newCtl builds the controller the settings describe, with the real runner.
func (s *settings) newCtl(r runner.Runner, stdout, stderr io.Writer) *ctl.Ctl {
	sudo := s.sudo
	if s.noSudo {
		sudo = ""
	}
	var m overlayclient.Mounter = overlayclient.SudoMounter{Runner: r, Sudo: sudo, Helper: s.overlayHelper}
	if sudo == "" {
		m = ctl.DirectMounter{Runner: r, Helper: s.overlayHelper}
	}
	settle, _ := s.settleFor() // checked by runWith
	return &ctl.Ctl{
		Root:            hostpath.Root(s.root),
		Settle:          settle,
		Runner:          r,
		Mounter:         m,
		Sudo:            sudo,
		SystemctlHelper: s.systemctlHelper,
		JournalHelper:   s.journalHelper,
		Stdout:          stdout,
		Stderr:          stderr,
	}
}

// run is the whole CLI; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, getenv, stdout, stderr, func(s *settings) *ctl.Ctl {
		return s.newCtl(runner.Exec{}, stdout, stderr)
	})
}

// runWith is run with the controller's construction left to the caller, so
// tests can inject a fake runner and mounter. It parses the global
// options, then the verb and its own, runs it and maps the outcome to the
// exit status.
func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, build func(*settings) *ctl.Ctl) int {
	s, rest, err := parseGlobal(args, getenv)
	var inv invocation
	if err == nil {
		inv, err = parseVerb(rest)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return ctl.ExitOK
	case err != nil:
		return usageError(stdout, stderr, err)
	}
	if inv.verb == "run" {
		return runServer(hostpath.Root(s.root), inv.name, stderr)
	}
	return exitCode(stderr, runVerb(ctx, build(s), inv, stdout))
}

// parseGlobal parses the global options up to the verb; flag.ErrHelp
// means the usage was asked for.
func parseGlobal(args []string, getenv func(string) string) (*settings, []string, error) {
	var s settings
	global := flag.NewFlagSet("l4d2ctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	s.flags(global, getenv)
	if err := global.Parse(args); err != nil {
		return nil, nil, err
	}
	if _, err := s.settleFor(); err != nil {
		return nil, nil, err
	}
	return &s, global.Args(), nil
}

// invocation is the verb the command line asks for, with its NAME and
// options.
type invocation struct {
	verb    string
	name    string
	jsonOut bool
	logs    ctl.LogOptions
}

// parseVerb reads the verb, its flags wherever they stand and its NAME;
// flag.ErrHelp means the usage was asked for.
func parseVerb(rest []string) (invocation, error) {
	var inv invocation
	if len(rest) == 0 {
		return inv, errors.New("missing VERB")
	}
	inv.verb, rest = rest[0], rest[1:]
	verb := inv.verb
	if verb == "help" || verb == "--help" || verb == "-h" {
		return inv, flag.ErrHelp
	}
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var lines string
	wantName := true
	switch verb {
	case "start", "stop", "delete", "run":
	case "status":
		fs.BoolVar(&inv.jsonOut, "json", false, "")
	case "list":
		fs.BoolVar(&inv.jsonOut, "json", false, "")
		wantName = false
	case "logs":
		fs.StringVar(&lines, "n", "", "")
		fs.BoolVar(&inv.logs.Follow, "f", false, "")
	default:
		return inv, fmt.Errorf("unknown verb %.40q", verb)
	}
	pos, err := parseInterleaved(fs, rest)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return inv, err
	case err != nil:
		return inv, fmt.Errorf("%s: %v", verb, err)
	case wantName && len(pos) != 1:
		return inv, fmt.Errorf("%s takes exactly one NAME, got %d arguments", verb, len(pos))
	case !wantName && len(pos) != 0:
		return inv, fmt.Errorf("%s takes no arguments, got %q", verb, pos)
	}
	if wantName {
		inv.name = pos[0]
	}
	if lines != "" {
		n, err := svchelper.ParseLines(lines)
		if err != nil {
			return inv, err
		}
		inv.logs.Lines = n
	}
	return inv, nil
}

// runVerb runs a parsed verb other than run with c, printing what it
// reports on stdout.
func runVerb(ctx context.Context, c *ctl.Ctl, inv invocation, stdout io.Writer) error {
	switch inv.verb {
	case "start", "stop", "delete":
		// A signal must not cut a step in half (sudo killed while the
		// helper mounts): these verbs finish what they started; each step
		// is bounded. logs -f, status and list end on SIGINT/SIGTERM.
		ctx = context.WithoutCancel(ctx)
	}
	switch inv.verb {
	case "start":
		return c.Start(ctx, inv.name)
	case "stop":
		return c.Stop(ctx, inv.name)
	case "delete":
		return c.Delete(ctx, inv.name)
	case "status":
		st, err := c.Status(ctx, inv.name)
		if st.Name != "" {
			printStatus(stdout, []ctl.Status{st}, inv.jsonOut, false)
		}
		return err
	case "list":
		list, err := c.List(ctx)
		if list != nil {
			printStatus(stdout, list, inv.jsonOut, true)
		}
		return err
	case "logs":
		return c.Logs(ctx, inv.name, inv.logs)
	}
	return fmt.Errorf("unknown verb %.40q", inv.verb) // parseVerb refused it
}

// exitCode prints a verb's error on stderr, one "l4d2ctl:" line per line,
// and returns the exit status it means.
func exitCode(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "l4d2ctl: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nl4d2ctl: "))
	}
	return ctl.ExitCode(err)
}

// parseInterleaved parses fs's flags wherever they stand among the
// positional arguments and returns the positional ones. (No instance name
// starts with '-', so "--" has no use here.)
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag: take it, parse on.
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func usageError(stdout, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "l4d2ctl: %v\nRun 'l4d2ctl --help' for usage.\n", err)
	return ctl.ExitUsage
}

func printStatus(w io.Writer, list []ctl.Status, jsonOut, asList bool) {
	if jsonOut {
		enc := json.NewEncoder(w)
		if asList {
			enc.Encode(list)
		} else {
			enc.Encode(list[0])
		}
		return
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	if !asList {
		st := list[0]
		fmt.Fprintf(w, "name:    %s\nexists:  %s\nmounted: %s\nunit:    %s\nstate:   %s\n",
			textsafe.Quote(st.Name), yes(st.Exists), yes(st.Mounted), st.Unit, st.State)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMOUNTED\tSTATE")
	for _, st := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", textsafe.Quote(st.Name), yes(st.Mounted), st.State)
	}
	tw.Flush()
}

// runServer is the verb left4me-server@NAME.service runs as the left4me
// user, from the instance's merged directory: it reads instance.env and
// replaces itself with the game server (see ctl.ServerCommand for why the
// unit does not use EnvironmentFile=). It returns only on failure.
func runServer(root hostpath.Root, name string, stderr io.Writer) int {
	if os.Geteuid() == 0 {
		fmt.Fprintln(stderr, "l4d2ctl: run: refusing to run as root: left4me-server@.service runs it as the left4me user")
		return ctl.ExitFailed
	}
	argv, env, err := ctl.ServerCommand(root, name, os.Environ())
	if err == nil {
		err = syscall.Exec(argv[0], argv, env)
		err = fmt.Errorf("run %s: exec %s in %s: %w", name, argv[0], cwd(), err)
	}
	fmt.Fprintf(stderr, "l4d2ctl: %v\n", err)
	if errors.Is(err, instance.ErrInvalidName) {
		return ctl.ExitUsage
	}
	return ctl.ExitFailed
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "?"
	}
	return d
}
