package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
)

// targetsFrom reads the hosts of the command line and of --hosts FILE, in
// that order, and keeps those --limit selects; a host given twice is an
// error. The whole list is checked (hostChecker) before any host starts.
func targetsFrom(c *cli.Context) ([]remote.Target, error) {
	targets, err := readTargets(c)
	if err != nil {
		return nil, err
	}
	if l := str(c, "limit"); l != "" {
		if targets, err = remote.Limit(targets, l); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

func readTargets(c *cli.Context) ([]remote.Target, error) {
	check := &hostChecker{&remote.SSHAliases{Ctx: c.Context, Config: str(c, "F")}}
	var targets []remote.Target
	seen := map[string]bool{}
	add := func(t remote.Target) error {
		if seen[t.Spec] {
			return fmt.Errorf("host %s is given twice", t.Spec)
		}
		seen[t.Spec] = true
		targets = append(targets, t)
		return nil
	}
	for _, a := range c.Args().Slice() {
		t, err := remote.ParseHost(a)
		if err != nil {
			return nil, err
		}
		if err := check.check(t); err != nil {
			return nil, err
		}
		if err := add(t); err != nil {
			return nil, err
		}
	}
	if file := str(c, "hosts"); file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--hosts: %w", err)
		}
		defer f.Close()
		list, err := remote.ReadHosts(f, file)
		if err != nil {
			return nil, err
		}
		for _, t := range list {
			if err := check.check(t); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if err := add(t); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no hosts: give user@host arguments or --hosts FILE")
	}
	return targets, nil
}

// sshFrom is the SSH transport the flags describe.
func sshFrom(c *cli.Context) remote.SSH {
	return remote.SSH{
		Port:     str(c, "p"),
		Identity: *set(c, "i").Generic("i").(*multiFlag),
		Jump:     str(c, "J"),
		Config:   str(c, "F"),
		Options:  *set(c, "o").Generic("o").(*multiFlag),
	}
}

// set is the context that was given flag name: the verb's own, else the
// top level's ("left4me-deploy -F cfg status HOST" means what
// "left4me-deploy status -F cfg HOST" does), else the verb's default.
func set(c *cli.Context, name string) *cli.Context {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc
		}
	}
	return c
}

func str(c *cli.Context, name string) string { return set(c, name).String(name) }

// printer prints the progress of hosts to w, in text the progress lines
// and with -v the detail lines to stderr.
func printer(c *cli.Context, e *env, w io.Writer, asJSON bool) *remote.Printer {
	return &remote.Printer{W: w, JSON: asJSON, ErrW: e.Stderr, Verbose: set(c, "verbose").Bool("verbose")}
}

// hostDeployer builds the Deployer of the verbs that reach hosts; it
// checks the flags every one of them shares.
func hostDeployer(c *cli.Context, out *remote.Printer, args protocol.HostArgs) (*remote.Deployer, []remote.Target, error) {
	targets, err := targetsFrom(c)
	if err != nil {
		return nil, nil, err
	}
	if c.Int("parallel") < 1 {
		return nil, nil, fmt.Errorf("--parallel %d: want at least 1", c.Int("parallel"))
	}
	if r := str(c, "root"); r != "" && !filepath.IsAbs(r) {
		return nil, nil, fmt.Errorf("--root %q: want an absolute path on the host", r)
	}
	src, err := remote.FindSource(str(c, "bundle"))
	if err != nil {
		return nil, nil, err
	}
	args.Root = str(c, "root")
	args.By = workstation()
	if err := args.Validate(); err != nil {
		return nil, nil, err
	}
	d := &remote.Deployer{
		SSH:      sshFrom(c),
		Source:   src,
		Args:     args,
		Parallel: c.Int("parallel"),
		Out:      out,
		Prompt:   remote.TerminalPrompt(),
	}
	return d, targets, nil
}

// workstation is "user@host" of this machine, for the hosts' release
// records.
func workstation() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return name + "@" + host
}

// splitHostArgs is splitSSHFlags for the top level and for the verbs that
// take ssh flags after their name (status, rollback).
func splitHostArgs(args []string) []string {
	args = splitSSHFlags(args)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "status" || a == "rollback" {
			return append(append([]string{}, args[:i]...), splitSSHFlags(args[i:])...)
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
	}
	return args
}
