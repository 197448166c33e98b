package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/urfave/cli/v2"
)

// Every flag of left4me-deploy is declared once, here: its names, short
// spelling, placeholder, usage and default text. A verb lists the flags it
// takes by name (flags), so the same option is spelled and explained the
// same way on every verb. Each call builds fresh flag values: cli keeps
// parse state in them, and a repeatable flag must not collect the values
// of another verb's parse.
var flagDefs = map[string]func() cli.Flag{
	// ssh's own flags, spelled as ssh spells them.
	"p": func() cli.Flag {
		return &cli.StringFlag{Name: "p", Usage: "ssh: `PORT` to connect to on the hosts"}
	},
	"i": func() cli.Flag {
		return &cli.GenericFlag{Name: "i", Value: &multiFlag{}, Usage: "ssh: identity (private key) `FILE`; repeatable"}
	},
	"J": func() cli.Flag {
		return &cli.StringFlag{Name: "J", Usage: "ssh: connect through the jump host `[user@]host[:port]` (ProxyJump)"}
	},
	"o": func() cli.Flag {
		return &cli.GenericFlag{Name: "o", Value: &multiFlag{}, Usage: "ssh: `OPTION=VALUE` as in ssh_config; repeatable"}
	},
	"F": func() cli.Flag {
		return &cli.StringFlag{Name: "F", Usage: "ssh: use this ssh_config `FILE` instead of ~/.ssh/config"}
	},

	// What a run does.
	"dry-run": func() cli.Flag {
		return boolFlag("dry-run", "n", "report what would change; change nothing")
	},
	"diff": func() cli.Flag {
		return boolFlag("diff", "", "show a unified diff of every file that changes (or would)")
	},
	"json": func() cli.Flag {
		return boolFlag("json", "", "print JSON, one object per line (see docs/remote.md, schema 1)")
	},
	"root": func() cli.Flag {
		return &cli.StringFlag{Name: "root", Usage: "act under `DIR` instead of / (on the hosts over ssh, on this machine with --local); packages, accounts and services are then only reported"}
	},
	"web-exec": func() cli.Flag {
		return &cli.StringFlag{Name: "web-exec", Usage: "ExecStart= `COMMAND` of left4me-web.service", DefaultText: "the one an earlier deploy set, else the installer's"}
	},
	"timeout": func() cli.Flag {
		return &cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "give each host at most `DURATION` (connection included); one that takes longer fails, naming what it was doing", DefaultText: "2m"}
	},
	"max-mounts": func() cli.Flag {
		return &cli.IntFlag{Name: "max-mounts", Usage: "let left4me-overlay hold at most `N` instance overlays on the host, from 1 to 100000", DefaultText: "the number an earlier deploy set, else 64"}
	},
	"bin-dir": func() cli.Flag {
		return &cli.StringFlag{Name: "bin-dir", Usage: "take the helpers and l4d2ctl from `DIR`", DefaultText: "the directory of this program; for the one installed on a host, its release's kept binaries"}
	},
	"local": func() cli.Flag {
		return boolFlag("local", "", "act on this machine instead of hosts over ssh")
	},
	"verbose": func() cli.Flag {
		return boolFlag("verbose", "v", "more detail: for a host that failed, the ssh command line and the command it ran there (on stderr); for migrate, every changed path")
	},

	// Which hosts, and how a run moves over them.
	"hosts": func() cli.Flag {
		return &cli.StringFlag{Name: "hosts", Usage: "read hosts from `FILE`: one user@host[:port] per line, optionally followed by its groups; [group] sections; # comments"}
	},
	"limit": func() cli.Flag {
		return &cli.StringFlag{Name: "limit", Usage: "only the hosts matching `GROUP|PATTERN`: a group of the hosts file or a glob on host names; several separated by commas"}
	},
	"retry-file": func() cli.Flag {
		return &cli.StringFlag{Name: "retry-file", Usage: "after a rollout with failed or not-run hosts, list them in `FILE`, a hosts file for --hosts", Value: "left4me-deploy.retry", DefaultText: "left4me-deploy.retry in the current directory", EnvVars: []string{"LEFT4ME_DEPLOY_RETRY_FILE"}}
	},
	"parallel": func() cli.Flag {
		return &cli.IntFlag{Name: "parallel", Value: 4, Usage: "work on `N` hosts at once", DefaultText: "4; status: every host, up to 32"}
	},
	"bundle": func() cli.Flag {
		return &cli.StringFlag{Name: "bundle", Usage: "ship the host binaries of the release bundle in `DIR`", DefaultText: "the bundle this program is part of, else build them from this source checkout"}
	},
	"serial": func() cli.Flag {
		return &cli.IntFlag{Name: "serial", Usage: "in batches of `N` hosts, each batch after the one before finished", DefaultText: "all hosts, --parallel at a time"}
	},
	"canary": func() cli.Flag {
		return boolFlag("canary", "", "the first host alone first; the others start only if it succeeded")
	},
	"max-fail": func() cli.Flag {
		return &cli.IntFlag{Name: "max-fail", Usage: "after `K` failed hosts start no other host", DefaultText: "never stop"}
	},
}

// boolFlag is a switch: no "(default: false)" in the help.
func boolFlag(name, short, usage string) *cli.BoolFlag {
	f := &cli.BoolFlag{Name: name, Usage: usage, DisableDefaultText: true}
	if short != "" {
		f.Aliases = []string{short}
	}
	return f
}

// flags builds the named flags, in that order.
func flags(names ...string) []cli.Flag {
	out := make([]cli.Flag, 0, len(names))
	for _, n := range names {
		def, ok := flagDefs[n]
		if !ok {
			panic(fmt.Sprintf("flag %q is not declared in flagDefs", n))
		}
		out = append(out, def())
	}
	return out
}

// Flag sets shared by verbs.
var (
	sshFlagNames     = []string{"p", "i", "J", "o", "F"}
	hostFlagNames    = []string{"hosts", "limit", "parallel", "bundle", "root"}
	rolloutFlagNames = []string{"serial", "canary", "max-fail", "retry-file"}
	// -v is global: before the verb or after it.
	verboseFlagNames = []string{"verbose"}
)

func join(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// flagNames lists every declared flag, sorted (for the tests of the
// generated completion and man pages).
func flagNames() []string {
	var out []string
	for n := range flagDefs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
