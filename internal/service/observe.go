package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// Observer is the optional part of a Manager that reads what systemd
// itself holds, so the installer derives its follow-ups (a daemon-reload,
// a restart) from the host's state rather than from what one run did.
type Observer interface {
	// NeedDaemonReload returns those of units that systemd holds loaded
	// from a file that changed since (systemctl show -p NeedDaemonReload).
	NeedDaemonReload(ctx context.Context, units ...string) ([]string, error)
	// MainStarted is when unit's main process started (zero if it has
	// none: inactive, or never started).
	MainStarted(ctx context.Context, unit string) (time.Time, error)
}

// show reads properties of unit with systemctl show, as a map.
func (s Systemctl) show(ctx context.Context, unit string, props ...string) (map[string]string, error) {
	// Microseconds in UTC: a restart and a file change in one second
	// must still be ordered.
	args := []string{"show", "--timestamp=us+utc"}
	for _, p := range props {
		args = append(args, "-p", p)
	}
	out, err := runner.Output(ctx, s.Runner, append(append([]string{s.bin()}, args...), "--", unit)...)
	if err != nil {
		return nil, fmt.Errorf("systemctl show %s: %w", unit, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// NeedDaemonReload implements Observer: one systemctl show for all units,
// which prints one block of properties per loaded unit. A template
// (NAME@.service) cannot be shown; its loaded instances (NAME@*.service)
// are, under the template's name.
func (s Systemctl) NeedDaemonReload(ctx context.Context, units ...string) ([]string, error) {
	if len(units) == 0 {
		return nil, nil
	}
	args := []string{s.bin(), "show", "-p", "Id", "-p", "NeedDaemonReload", "--"}
	for _, u := range units {
		if prefix, suffix, ok := strings.Cut(u, "@."); ok {
			u = prefix + "@*." + suffix
		}
		args = append(args, u)
	}
	out, err := runner.Output(ctx, s.Runner, args...)
	if err != nil {
		return nil, fmt.Errorf("systemctl show NeedDaemonReload: %w", err)
	}
	return parseNeedReload(out, units)
}

// parseNeedReload reads systemctl show's blocks ("Id=...",
// "NeedDaemonReload=yes|no") and returns those of units (an instance
// counts as its template) that need a reload, in the order of units.
func parseNeedReload(out string, units []string) ([]string, error) {
	need := map[string]bool{}
	for _, b := range strings.Split(strings.TrimSpace(out), "\n\n") {
		id, v := "", ""
		for _, l := range strings.Split(b, "\n") {
			if rest, ok := strings.CutPrefix(l, "Id="); ok {
				id = rest
			} else if rest, ok := strings.CutPrefix(l, "NeedDaemonReload="); ok {
				v = rest
			}
		}
		if id == "" && v == "" {
			continue
		}
		switch v {
		case "yes":
			if prefix, rest, ok := strings.Cut(id, "@"); ok {
				if _, suffix, ok := strings.Cut(rest, "."); ok {
					id = prefix + "@." + suffix
				}
			}
			need[id] = true
		case "no":
		default:
			return nil, fmt.Errorf("systemctl show %s: NeedDaemonReload=%q", id, v)
		}
	}
	var stale []string
	for _, u := range units {
		if need[u] {
			stale = append(stale, u)
		}
	}
	return stale, nil
}

// MainStarted implements Observer. ExecMainStartTimestamp is systemd's
// wall clock at the start, to the microsecond, comparable with the change
// times of files.
func (s Systemctl) MainStarted(ctx context.Context, unit string) (time.Time, error) {
	m, err := s.show(ctx, unit, "ExecMainPID", "ExecMainStartTimestamp", "ActiveState")
	if err != nil {
		return time.Time{}, err
	}
	return mainStarted(m)
}

// ParseTimestamp reads a timestamp as systemctl show --timestamp=us+utc
// prints it ("Fri 2026-12-04 19:05:01.123456 UTC"); empty or "n/a" is the
// zero time.
func ParseTimestamp(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "n/a" {
		return time.Time{}, nil
	}
	f := strings.Fields(v)
	if len(f) < 3 {
		return time.Time{}, fmt.Errorf("timestamp %q: want weekday, date, time and zone", v)
	}
	if len(f) >= 4 && f[3] != "UTC" {
		return time.Time{}, fmt.Errorf("timestamp %q: want UTC", v)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", f[1]+" "+f[2], time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", v, err)
	}
	return t, nil
}
