// Package svchelper is the logic of the two root helpers that let the
// left4me user drive its own game-server units and nothing else:
// left4me-systemctl (VERB NAME) and left4me-journalctl (NAME [-n N] [-f]).
//
// Both run as root through sudo on arguments from a web-facing user. They
// take only argv, check every argument against a whitelist (the name through
// instance.ValidateName), and build the command line of the real program
// themselves, to be executed with a clean environment.
package svchelper

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/sudoenv"
)

// Default paths of the programs the helpers run.
const (
	Systemctl  = "/usr/bin/systemctl"
	Journalctl = "/usr/bin/journalctl"
)

// Test-only settings: environment variables that replace Systemctl and
// Journalctl, honoured only when the helper was not started through sudo.
const (
	SystemctlEnv  = "LEFT4ME_SYSTEMCTL"
	JournalctlEnv = "LEFT4ME_JOURNALCTL"
)

// MaxLines is the largest -n a caller may ask left4me-journalctl for.
const MaxLines = 10000

// Verbs are the systemctl verbs left4me-systemctl accepts, in the order the
// usage message lists them.
var Verbs = []string{"start", "stop", "restart", "status", "is-active", "reset-failed", "show"}

// ShowProperties are the only properties left4me-systemctl show prints:
// what l4d2ctl start needs to tell a server that settled from one that
// crash-loops (systemctl show --property=...).
const ShowProperties = "ActiveState,SubState,NRestarts,Result,ExecMainCode,ExecMainStatus"

// ErrUsage is wrapped by every error about the helpers' arguments.
var ErrUsage = errors.New("usage")

// CleanEnv is the whole environment the real programs run with. The pager
// settings matter: systemctl status as root must never start less, whose
// shell escape would be a root shell.
var CleanEnv = []string{
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	"SYSTEMD_PAGER=cat",
	"SYSTEMD_PAGERSECURE=1",
	"SYSTEMD_COLORS=0",
}

// Getenv looks up an environment variable; os.Getenv in production.
type Getenv func(string) string

// StartedBySudo reports whether the process was started through sudo (the
// rule of package sudoenv). Test-only settings are ignored when it was.
func StartedBySudo(getenv Getenv) bool {
	return sudoenv.Started(func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
}

// program returns def, or the test-only override in env when the helper was
// not started through sudo.
func program(getenv Getenv, env, def string) string {
	if StartedBySudo(getenv) {
		return def
	}
	if p := getenv(env); p != "" {
		return p
	}
	return def
}

// ListUnits is the one left4me-systemctl verb without a NAME: it lists the
// state of every loaded left4me-server@ unit in one systemd query, so that
// l4d2ctl list costs one call however many instances there are.
const ListUnits = "list-units"

// ServerUnitPattern is the unit pattern ListUnits asks systemd about.
const ServerUnitPattern = "left4me-server@*.service"

// SystemctlUsage is the one-line usage of left4me-systemctl.
const SystemctlUsage = "usage: left4me-systemctl start|stop|restart|status|is-active|reset-failed|show NAME | left4me-systemctl list-units"

// JournalctlUsage is the one-line usage of left4me-journalctl.
const JournalctlUsage = "usage: left4me-journalctl NAME [-n N] [-f]   (N from 1 to 10000)"

// SystemctlArgv checks the arguments of left4me-systemctl (without the
// program name) and returns the argv to execute:
// systemctl VERB left4me-server@NAME.service (for show with
// --property=ShowProperties), or for list-units alone the listing below.
//
// left4me-systemctl list-units returns systemctl list-units --all --plain
// --no-legend --full left4me-server@*.service: one line per loaded unit,
// "UNIT LOAD ACTIVE SUB DESCRIPTION".
func SystemctlArgv(args []string, getenv Getenv) ([]string, error) {
	if len(args) == 1 && args[0] == ListUnits {
		return []string{program(getenv, SystemctlEnv, Systemctl), ListUnits, "--all", "--plain", "--no-legend", "--full", ServerUnitPattern}, nil
	}
	if len(args) != 2 {
		return nil, fmt.Errorf("%w: want exactly VERB NAME, got %d arguments", ErrUsage, len(args))
	}
	verb, name := args[0], args[1]
	if !validVerb(verb) {
		return nil, fmt.Errorf("%w: verb %.40q not allowed (use start, stop, restart, status, is-active, reset-failed or show)", ErrUsage, verb)
	}
	if err := instance.ValidateName(name); err != nil {
		return nil, err
	}
	argv := []string{program(getenv, SystemctlEnv, Systemctl), verb}
	if verb == "show" {
		argv = append(argv, "--property="+ShowProperties)
	}
	return append(argv, hostpath.ServerUnitName(name)), nil
}

func validVerb(v string) bool {
	for _, ok := range Verbs {
		if v == ok {
			return true
		}
	}
	return false
}

// JournalctlArgv checks the arguments of left4me-journalctl (without the
// program name): NAME, then -n N and -f at most once each, in any order. It
// returns journalctl -u left4me-server@NAME.service --no-pager [-n N] [-f].
func JournalctlArgv(args []string, getenv Getenv) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: missing NAME", ErrUsage)
	}
	name := args[0]
	if err := instance.ValidateName(name); err != nil {
		return nil, err
	}
	lines, follow := 0, false
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "-n":
			if lines != 0 {
				return nil, fmt.Errorf("%w: -n given twice", ErrUsage)
			}
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: -n needs a number of lines", ErrUsage)
			}
			i++
			n, err := ParseLines(args[i])
			if err != nil {
				return nil, err
			}
			lines = n
		case "-f":
			if follow {
				return nil, fmt.Errorf("%w: -f given twice", ErrUsage)
			}
			follow = true
		default:
			return nil, fmt.Errorf("%w: argument %.40q not allowed (only -n N and -f)", ErrUsage, a)
		}
	}
	argv := []string{program(getenv, JournalctlEnv, Journalctl), "-u", hostpath.ServerUnitName(name), "--no-pager"}
	if lines != 0 {
		argv = append(argv, "-n", strconv.Itoa(lines))
	}
	if follow {
		argv = append(argv, "-f")
	}
	return argv, nil
}

// ParseLines parses the N of -n N: a decimal number from 1 to MaxLines,
// digits only (no sign, no leading zero, no spaces).
func ParseLines(s string) (int, error) {
	bad := fmt.Errorf("%w: -n %.40q: want a number of lines from 1 to %d", ErrUsage, s, MaxLines)
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, bad
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > MaxLines {
		return 0, bad
	}
	return n, nil
}
