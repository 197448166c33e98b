package svchelper

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
)

// fuzzArgs splits fuzz input into an argv: arguments separated by NUL,
// which no real argument can contain.
func fuzzArgs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// sudoEnv is the environment of a helper started through sudo by a caller
// who also set every test-only override.
var sudoEnv = env("SUDO_UID", "1000", SystemctlEnv, "/tmp/evil", JournalctlEnv, "/tmp/evil")

func rejected(err error) bool {
	return errors.Is(err, ErrUsage) || errors.Is(err, instance.ErrInvalidName)
}

// FuzzSystemctlArgv: whatever argv the web user passes through sudo, the
// helper either refuses it as a usage error or runs exactly the real
// systemctl with an allowed verb on that instance's server unit.
func FuzzSystemctlArgv(f *testing.F) {
	for _, s := range []string{"start\x00a", "stop\x00test-server", "status\x00a\x00--no-block", "start\x00ssh.service",
		"start\x00../x", "kill\x00a", "start", "", "is-active\x00" + strings.Repeat("a", 33), "start\x00-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := fuzzArgs(s)
		argv, err := SystemctlArgv(args, sudoEnv)
		if err != nil {
			if !rejected(err) {
				t.Fatalf("SystemctlArgv(%q) = %v, want a usage or name error", args, err)
			}
			return
		}
		if len(args) != 2 || instance.ValidateName(args[1]) != nil || !slices.Contains(Verbs, args[0]) {
			t.Fatalf("SystemctlArgv(%q) accepted it: %q", args, argv)
		}
		want := []string{Systemctl, args[0], hostpath.ServerUnitName(args[1])}
		if args[0] == "show" {
			want = []string{Systemctl, "show", "--property=" + ShowProperties, hostpath.ServerUnitName(args[1])}
		}
		if !slices.Equal(argv, want) {
			t.Fatalf("SystemctlArgv(%q) = %q, want %q", args, argv, want)
		}
	})
}

// FuzzJournalctlArgv: an accepted argv is the real journalctl on that
// instance's unit with --no-pager, plus at most one -n N (1..MaxLines) and
// one -f; everything else is refused as a usage error.
func FuzzJournalctlArgv(f *testing.F) {
	for _, s := range []string{"a", "a\x00-n\x0050", "a\x00-f\x00-n\x0010000", "a\x00-n\x0010001", "a\x00-n\x00-5", "a\x00-n",
		"a\x00-f\x00-f", "a\x00--since\x00today", "a\x00-n\x0001", "", "-n\x005", "a\x00-n\x001\x00-n\x002", "a\x00-o\x00verbose"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := fuzzArgs(s)
		argv, err := JournalctlArgv(args, sudoEnv)
		if err != nil {
			if !rejected(err) {
				t.Fatalf("JournalctlArgv(%q) = %v, want a usage or name error", args, err)
			}
			return
		}
		if len(args) == 0 || instance.ValidateName(args[0]) != nil {
			t.Fatalf("JournalctlArgv(%q) accepted an invalid name: %q", args, argv)
		}
		head := []string{Journalctl, "-u", hostpath.ServerUnitName(args[0]), "--no-pager"}
		if len(argv) < len(head) || !slices.Equal(argv[:len(head)], head) {
			t.Fatalf("JournalctlArgv(%q) = %q, want it to start %q", args, argv, head)
		}
		rest := argv[len(head):]
		lines, follow := 0, 0
		for i := 0; i < len(rest); i++ {
			switch rest[i] {
			case "-n":
				if i+1 >= len(rest) {
					t.Fatalf("JournalctlArgv(%q) = %q: -n without a number", args, argv)
				}
				i++
				n, err := strconv.Atoi(rest[i])
				if err != nil || n < 1 || n > MaxLines || strconv.Itoa(n) != rest[i] {
					t.Fatalf("JournalctlArgv(%q) = %q: bad line count %q", args, argv, rest[i])
				}
				lines++
			case "-f":
				follow++
			default:
				t.Fatalf("JournalctlArgv(%q) = %q: unexpected %q", args, argv, rest[i])
			}
		}
		if lines > 1 || follow > 1 || len(args) != 1+2*lines+follow {
			t.Fatalf("JournalctlArgv(%q) = %q: options not taken exactly once each", args, argv)
		}
	})
}

// FuzzParseLines: an accepted N is exactly the canonical decimal of a
// number from 1 to MaxLines.
func FuzzParseLines(f *testing.F) {
	for _, s := range []string{"1", "10000", "10001", "0", "01", "-1", "+1", " 1", "1e3", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseLines(s)
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("ParseLines(%q) = %v, want a usage error", s, err)
			}
			return
		}
		if n < 1 || n > MaxLines || strconv.Itoa(n) != s {
			t.Fatalf("ParseLines(%q) = %d, want it refused", s, n)
		}
	})
}
