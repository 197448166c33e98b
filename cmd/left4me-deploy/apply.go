//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	deploy "github.com/left4me/left4me-deploy"
	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/overlay"
	"github.com/left4me/left4me-deploy/steps"
)

// installFlags are shared by apply and render.
func installFlags() []cli.Flag {
	return append(flags("bin-dir", "web-exec", "max-mounts", "diff", "json"),
		&cli.StringFlag{Name: "user", Value: hostpath.User, Usage: "the unprivileged `USER` (and group) that owns the state and runs the units", Hidden: true})
}

func applyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "run the install plan on this machine",
		UsageText: "left4me-deploy apply --local [--root DIR] [-n|--dry-run] [--diff] [--json] [--bin-dir DIR] [--web-exec CMD] [--max-mounts N]",
		Flags: append(append(flags("local", "root", "dry-run"),
			&cli.StringFlag{Name: "live", Usage: "comma list of packages,accounts,services that act on the running system even with --root (or none)", Hidden: true}),
			append(installFlags(), rollbackFlags()...)...),
		Action: func(c *cli.Context) error {
			if !c.Bool("local") {
				return usage(c, "apply needs --local (it installs on this machine); to deploy to another host run left4me-deploy user@host")
			}
			if c.NArg() > 0 {
				return usage(c, "apply takes no arguments, got %q", c.Args().Slice())
			}
			o, err := installOptions(c, e)
			if err != nil {
				return usage(c, "%v", err)
			}
			o.Root = hostpath.Root(c.String("root"))
			o.DryRun = c.Bool("dry-run")
			if s := c.String("live"); s != "" {
				live, err := parseLive(s)
				if err != nil {
					return usage(c, "%v", err)
				}
				o.Live = &live
			}
			if o.Release, err = releaseOptions(c); err != nil {
				return usage(c, "%v", err)
			}
			if c.Bool("json") {
				daytwo.NoteRunning(o)
			}
			_, err = deploy.Apply(c.Context, o)
			return finish(err)
		},
	}
}

func renderCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "write the files the installer would install as a tree under DIR",
		ArgsUsage: "DIR",
		Flags:     installFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "render needs exactly one argument, the output DIR")
			}
			dir := c.Args().First()
			if dir == "" || hostpath.Root(dir).IsHost() {
				return usage(c, "render DIR must be a directory other than /, got %q", dir)
			}
			o, err := installOptions(c, e)
			if err != nil {
				return usage(c, "%v", err)
			}
			_, err = deploy.Render(c.Context, dir, o)
			return finish(err)
		},
	}
}

func installOptions(c *cli.Context, e *env) (deploy.Options, error) {
	o := deploy.Options{
		Diff:    c.Bool("diff"),
		BinDir:  c.String("bin-dir"),
		User:    c.String("user"),
		WebExec: c.String("web-exec"),
		Command: strings.Join(os.Args, " "),
	}
	if c.IsSet("max-mounts") {
		n := c.Int("max-mounts")
		if _, err := overlay.ParseMaxMounts(strconv.Itoa(n)); err != nil {
			return o, fmt.Errorf("--max-mounts: %w", err)
		}
		o.MaxMounts = n
	}
	return output(o, e, c.Bool("json")), nil
}

// output returns o printing its events to stdout: JSON lines (the
// release on the summary) or text.
func output(o deploy.Options, e *env, asJSON bool) deploy.Options {
	if asJSON {
		w := protocol.NewWriter(e.Stdout)
		o.Emit, o.OnRelease = w.Emit, w.SetRelease
	} else {
		o.Emit = steps.TextPrinter(e.Stdout)
	}
	return o
}

func parseLive(s string) (steps.Live, error) {
	var l steps.Live
	if s == "none" {
		return l, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "packages":
			l.Packages = true
		case "accounts":
			l.Accounts = true
		case "services":
			l.Services = true
		case "all":
			l = steps.Live{Packages: true, Accounts: true, Services: true}
		default:
			return l, fmt.Errorf("--live: unknown %q (want packages, accounts, services, all or none)", p)
		}
	}
	return l, nil
}

// finish turns a failed run into exit status 1; the failing step's line
// already said why, and the error repeats it on stderr.
func finish(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if errors.Is(err, steps.ErrFailed) {
		msg = strings.TrimPrefix(msg, steps.ErrFailed.Error()+": ")
		msg = "deploy failed: " + msg
	}
	return exitError{1, msg}
}
