package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/internal/version"
)

// env is the process's outside world, so tests drive the whole CLI in-process.
type env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// exitCoder lets a command choose its exit status without printing twice.
type exitCoder interface{ ExitCode() int }

// exitError ends the process with a status; a non-empty message goes to
// stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
func (e exitError) ExitCode() int { return e.code }

func init() {
	// --version only (no -v: ssh users read -v as verbose), printed as by
	// every other left4me binary.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version and commit this program was built from", DisableDefaultText: true}
	cli.VersionPrinter = func(c *cli.Context) { version.Print(c.App.Writer, c.App.Name) }
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:    "left4me-deploy",
		Version: version.Read().String(),
		Usage:   "install left4me (kernel overlayfs helpers, l4d2ctl, sudoers, units) on a host",
		UsageText: "left4me-deploy [flags] user@host[:port]... (or --hosts FILE)\n" +
			"left4me-deploy status [flags] user@host[:port]...\n" +
			"left4me-deploy rollback [flags] user@host[:port]...\n" +
			"left4me-deploy apply --local [--root DIR] [-n|--dry-run] [--diff] [--json]\n" +
			"left4me-deploy render DIR\n" +
			"left4me-deploy migrate [--root DIR] [-n|--dry-run] [--json] [--reset-upper] [-v]\n" +
			"left4me-deploy help [VERB]",
		Reader:    e.Stdin,
		Writer:    e.Stdout,
		ErrWriter: e.Stderr,
		// cli adds --help itself only along with its own help command,
		// which helpCommand replaces.
		Flags:  append(remoteFlags(), cli.HelpFlag),
		Action: remoteAction(e),
		Commands: []*cli.Command{
			applyCommand(e),
			renderCommand(e),
			migrateCommand(e),
			statusCommand(e),
			rollbackCommand(e),
			helpCommand(),
			generateDocsCommand(e),
			hostCommand(e),
		},
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
	for _, c := range app.Commands {
		c.OnUsageError = usageError
	}
	return app
}

// usageError turns cli's complaint about the command line into one line
// and exit status 2, instead of the error and the whole help.
func usageError(c *cli.Context, err error, _ bool) error {
	return usage(c, "%v", err)
}

// usage is a usage error: exit 2, one line ending in where the help is.
func usage(c *cli.Context, format string, args ...any) error {
	name := "left4me-deploy"
	if c != nil && c.Command != nil && c.Command.Name != "" && c.Command.Name != name {
		name += " " + c.Command.Name
	}
	return exitError{2, fmt.Sprintf(format, args...) + " (see " + name + " --help)"}
}

// run builds the app and runs it, returning the process exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	err := newApp(e).Run(splitHostArgs(args))
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "left4me-deploy:", textsafe.Line(msg))
		}
		return ec.ExitCode()
	}
	// Errors name paths from the hostile tree: one printable line.
	fmt.Fprintln(stderr, "left4me-deploy:", textsafe.Line(err.Error()))
	return 1
}
