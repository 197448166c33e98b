//go:build linux

package steps

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
)

// accounts creates the group and the system user that own the state root
// and run the web app and game servers. An existing user is left as it is.
type accounts struct{ d *Host }

// Accounts is the accounts step of h's run.
func Accounts(h *Host) Step { return accounts{h} }

func (accounts) Name() string { return "accounts" }

func (s accounts) ShouldRun(context.Context) (bool, string) {
	if s.d.o.Live.Accounts {
		return true, ""
	}
	_, uerr := user.Lookup(s.d.o.User)
	_, gerr := user.LookupGroup(s.d.o.Group)
	if uerr == nil && gerr == nil {
		return false, fmt.Sprintf("with --root, accounts are not managed; user %s and group %s exist", s.d.o.User, s.d.o.Group)
	}
	return false, fmt.Sprintf("with --root, would create group %s and system user %s (home %s) on the running system", s.d.o.Group, s.d.o.User, hostpath.StateDir)
}

func (s accounts) Run(ctx context.Context, g *Gate) error {
	o, r := s.d.o, s.d.o.Runner
	if _, err := user.LookupGroup(o.Group); err != nil {
		if !isUnknown(err) {
			return fmt.Errorf("look up group %s: %w", o.Group, err)
		}
		if err := g.Change("create group "+o.Group, func() error {
			return runLocked(ctx, r, []string{"groupadd", "--system", o.Group})
		}); err != nil {
			return err
		}
	}
	u, err := user.Lookup(o.User)
	if err != nil {
		if !isUnknown(err) {
			return fmt.Errorf("look up user %s: %w", o.User, err)
		}
		return g.Change("create system user "+o.User, func() error {
			return runLocked(ctx, r, []string{"useradd", "--system", "--gid", o.Group,
				"--home-dir", hostpath.StateDir, "--no-create-home", "--shell", "/usr/sbin/nologin", o.User})
		})
	}
	if grp, err := user.LookupGroup(o.Group); err == nil && grp.Gid != u.Gid {
		g.Note("user %s exists with primary group id %s, not %s's %s; left as it is", o.User, u.Gid, o.Group, grp.Gid)
	}
	return nil
}

// runLocked runs a shadow-utils command, retrying for a few seconds while
// another program holds the lock on /etc/passwd or /etc/group ("try again
// later"), as a package install running at the same time may.
func runLocked(ctx context.Context, r runner.Runner, argv []string) error {
	var err error
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		err = r.Run(ctx, runner.Cmd{Argv: argv})
		var ee *runner.ExitError
		if err == nil || !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "try again later") || wait > 3*time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
