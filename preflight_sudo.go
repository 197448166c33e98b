//go:build linux

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/runner"
)

// SudoKind names the sudo of a "sudo --version" output: "sudo 1.9.16p2" or
// "sudo-rs 0.2.5", from its first line; ok is false for anything else.
func SudoKind(versionOutput string) (kind string, ok bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(versionOutput), "\n")
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "Sudo" && f[1] == "version":
		return "sudo " + f[2], true
	case len(f) >= 2 && f[0] == "sudo-rs":
		return "sudo-rs " + f[1], true
	}
	return "", false
}

// sudoNote says which sudo the host has at hostpath.Sudo (the program
// l4d2ctl runs), with its version and, when it is a link (as with a
// diverted sudo-rs), where it leads. It is a note, not a check: both sudos
// work, and the verify step asks the one found what it grants.
func (d *deployer) sudoNote(ctx context.Context) string {
	// sudo prints its version on stdout, sudo-rs 0.2.5 on stderr. (Two
	// buffers: one shared by both streams would lose what one writes.)
	var out, stderr bytes.Buffer
	if err := d.o.Runner.Run(ctx, runner.Cmd{Argv: []string{hostpath.Sudo, "--version"}, Env: sudoEnv, Stdout: &out, Stderr: &stderr}); err != nil {
		return fmt.Sprintf("%s --version failed: %s", hostpath.Sudo, refusal(err))
	}
	if strings.TrimSpace(out.String()) == "" {
		out = stderr
	}
	kind, ok := SudoKind(out.String())
	if !ok {
		line, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		if len(line) > 80 {
			line = line[:80]
		}
		kind = fmt.Sprintf("an unknown sudo (%q)", line)
	}
	where := hostpath.Sudo
	if fi, err := os.Lstat(hostpath.Sudo); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(hostpath.Sudo); err == nil {
			where += " -> " + real
		}
	}
	return fmt.Sprintf("sudo is %s (%s)", kind, where)
}
