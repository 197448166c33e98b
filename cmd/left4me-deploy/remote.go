package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// multiFlag is a repeatable string flag that keeps each value whole (cli's
// StringSlice splits on commas, and ssh options contain commas).
type multiFlag []string

func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
func (m *multiFlag) String() string     { return strings.Join(*m, " ") }

// sshValueFlags are the ssh flags that take a value, spelled as ssh spells
// them; splitSSHFlags accepts them glued to their value too (-p2222).
const sshValueFlags = "pioJF"

// deployFlagNames are the flags of a plain deploy (left4me-deploy HOST...).
var deployFlagNames = join(sshFlagNames, []string{"dry-run", "diff", "json", "web-exec", "max-mounts"}, hostFlagNames, rolloutFlagNames, verboseFlagNames)

func remoteFlags() []cli.Flag { return flags(deployFlagNames...) }

func remoteAction(e *env) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 && c.String("hosts") == "" {
			return usage(c, "no hosts: give user@host[:port] arguments, --hosts FILE, or a verb")
		}
		r, err := rolloutFrom(c)
		if err != nil {
			return usage(c, "%v", err)
		}
		if n := c.Int("max-mounts"); c.IsSet("max-mounts") && (n < 1 || n > 100000) {
			return usage(c, "--max-mounts %d: want a number from 1 to 100000", n)
		}
		out := printer(c, e, e.Stdout, c.Bool("json"))
		d, targets, err := hostDeployer(c, out, protocol.HostArgs{Verb: protocol.VerbApply, DryRun: c.Bool("dry-run"), Diff: c.Bool("diff"), WebExec: c.String("web-exec"), MaxMounts: c.Int("max-mounts")})
		if err != nil {
			return usage(c, "%v", err)
		}
		return rollout(c, e, d, out, targets, r, "deploy")
	}
}

// splitSSHFlags rewrites ssh's glued spellings before the CLI parses them:
// "-p2222" to "-p 2222", "-oUser=x" to "-o User=x", likewise -i, -J, -F.
// It stops at the first argument that is not a flag, so subcommands and
// hosts are untouched, and it leaves our own flags (-parallel) alone.
func splitSSHFlags(args []string) []string {
	if len(args) < 2 {
		return args
	}
	known := map[string]bool{"help": true, "h": true}
	takesValue := map[string]bool{}
	for _, f := range remoteFlags() {
		for _, n := range f.Names() {
			known[n] = true
			if _, isBool := f.(*cli.BoolFlag); !isBool {
				takesValue[n] = true
			}
		}
	}
	out := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 && strings.IndexByte(sshValueFlags, a[1]) >= 0 && a[2] != '=' {
			if base, _, _ := strings.Cut(a[1:], "="); !known[base] {
				out = append(out, a[:2], a[2:])
				continue
			}
		}
		out = append(out, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && takesValue[name] && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}
