package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/remote"
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

// terminalPrompt asks on the controlling terminal, without echo, like sudo
// itself; with no terminal it reports remote.ErrSudoNoTerminal. Ctrl-C
// (ctx) ends the question and gives the terminal its echo back.
func terminalPrompt() func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, prompt string) ([]byte, error) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", remote.ErrSudoNoTerminal, err)
		}
		fd := int(tty.Fd())
		if !term.IsTerminal(fd) {
			tty.Close()
			return nil, remote.ErrSudoNoTerminal
		}
		state, err := term.GetState(fd)
		if err != nil {
			tty.Close()
			return nil, fmt.Errorf("read terminal state: %w", err)
		}
		fmt.Fprint(tty, prompt)
		type answer struct {
			pw  []byte
			err error
		}
		ch := make(chan answer, 1)
		go func() {
			pw, err := term.ReadPassword(fd)
			ch <- answer{pw, err}
		}()
		select {
		case a := <-ch:
			fmt.Fprintln(tty)
			tty.Close()
			return a.pw, a.err
		case <-ctx.Done():
			// The reader stays blocked until the process exits; the
			// terminal gets its echo back now.
			term.Restore(fd, state)
			fmt.Fprintln(tty)
			return nil, ctx.Err()
		}
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
