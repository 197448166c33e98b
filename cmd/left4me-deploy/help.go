package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// helpCommand is "left4me-deploy help [VERB]": the program's help, or one
// verb's. An unknown verb is a usage error naming the nearest one. (It
// replaces cli's own help command, which keeps state between runs.)
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the help of left4me-deploy, or of one verb",
		ArgsUsage: "[VERB]",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowAppHelp(c)
			}
			if c.NArg() > 1 {
				return usage(c, "help takes one verb, got %q", c.Args().Slice())
			}
			name := c.Args().First()
			if cmd := c.App.Command(name); cmd == nil || cmd.Hidden {
				msg := fmt.Sprintf("help: %q is not a verb", name)
				if v := nearestVerb(name); v != "" {
					msg += fmt.Sprintf("; did you mean %q?", v)
				}
				return usage(c, "%s", msg)
			}
			// The top level's context lists the verbs.
			top := c
			if l := c.Lineage(); len(l) > 1 {
				top = l[1]
			}
			return cli.ShowCommandHelp(top, name)
		},
	}
}
