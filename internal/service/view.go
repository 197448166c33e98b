package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/runner"
)

// View is what systemd held about some units at one moment: one systemctl
// show of their state and one systemctl is-enabled of those that can be
// enabled, the answers IsActive, IsEnabled, NeedDaemonReload and
// MainStarted give one unit at a time. It is for a caller that asks
// several of these questions with nothing changed in between (see
// steps.Host): a view is never updated, only replaced.
type View struct {
	shown   string                       // the show output, for NeedDaemonReload
	byID    map[string]map[string]string // properties by unit id
	enabled map[string]string            // is-enabled's word by unit
}

// View asks systemd about units (templates as NAME@.service, standing
// for their loaded instances, as in NeedDaemonReload) and whether each of
// enable is enabled. A unit is-enabled cannot name (one not installed)
// leaves enable's answers out of the view; IsEnabled then asks.
func (s Systemctl) View(ctx context.Context, units, enable []string) (*View, error) {
	args := []string{s.bin(), "show", "--timestamp=us+utc"}
	for _, p := range []string{"Id", "NeedDaemonReload", "ActiveState", "ExecMainPID", "ExecMainStartTimestamp"} {
		args = append(args, "-p", p)
	}
	args = append(args, "--")
	for _, u := range units {
		if prefix, suffix, ok := strings.Cut(u, "@."); ok {
			u = prefix + "@*." + suffix
		}
		args = append(args, u)
	}
	out, err := runner.Output(ctx, s.Runner, args...)
	if err != nil {
		return nil, fmt.Errorf("systemctl show: %w", err)
	}
	v := &View{shown: out, byID: map[string]map[string]string{}}
	for _, b := range strings.Split(strings.TrimSpace(out), "\n\n") {
		m := map[string]string{}
		for _, l := range strings.Split(b, "\n") {
			if k, val, ok := strings.Cut(l, "="); ok {
				m[k] = val
			}
		}
		if id := m["Id"]; id != "" {
			v.byID[id] = m
		}
	}
	if len(enable) > 0 {
		// is-enabled prints one word per unit, in order, and exits
		// non-zero when none is enabled; a unit it cannot name makes it
		// print fewer.
		e, _ := runner.Output(ctx, s.Runner, append([]string{s.bin(), "is-enabled", "--"}, enable...)...)
		if words := strings.Fields(e); len(words) == len(enable) {
			v.enabled = map[string]string{}
			for i, u := range enable {
				v.enabled[u] = words[i]
			}
		}
	}
	return v, nil
}

// IsActive is Systemctl.IsActive's answer for unit; ok is false when the
// view does not hold unit.
func (v *View) IsActive(unit string) (active, ok bool) {
	m, ok := v.byID[unit]
	if !ok {
		return false, false
	}
	return activeWord(m["ActiveState"]), true
}

// ActiveState is the word systemctl is-active prints for unit; ok is
// false when the view does not hold unit.
func (v *View) ActiveState(unit string) (state string, ok bool) {
	m, ok := v.byID[unit]
	return m["ActiveState"], ok && m["ActiveState"] != ""
}

// IsEnabled is Systemctl.IsEnabled's answer for unit; ok is false when
// the view does not hold unit.
func (v *View) IsEnabled(unit string) (enabled, ok bool) {
	w, ok := v.enabled[unit]
	if !ok {
		return false, false
	}
	return enabledWord(w), true
}

// NeedDaemonReload is Systemctl.NeedDaemonReload's answer for units,
// which must be among those the view was made for.
func (v *View) NeedDaemonReload(units ...string) ([]string, error) {
	return parseNeedReload(v.shown, units)
}

// MainStarted is Systemctl.MainStarted's answer for unit; ok is false
// when the view does not hold unit.
func (v *View) MainStarted(unit string) (started time.Time, ok bool, err error) {
	m, ok := v.byID[unit]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err := mainStarted(m)
	return t, true, err
}

// mainStarted reads MainStarted's answer from a unit's properties.
func mainStarted(m map[string]string) (time.Time, error) {
	if m["ActiveState"] != "active" && m["ActiveState"] != "reloading" {
		return time.Time{}, nil
	}
	if pid, _ := strconv.Atoi(m["ExecMainPID"]); pid <= 0 {
		return time.Time{}, nil
	}
	return ParseTimestamp(m["ExecMainStartTimestamp"])
}

// activeWord is is-active's verdict on the state it prints.
func activeWord(state string) bool {
	switch state {
	case "active", "activating", "reloading", "refreshing":
		return true
	}
	return false
}

// enabledWord is is-enabled's verdict on the word it prints.
func enabledWord(state string) bool {
	switch state {
	case "enabled", "enabled-runtime", "alias", "static", "indirect", "generated":
		return true
	}
	return false
}
