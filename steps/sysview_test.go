//go:build linux

package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/service"
)

// TestViewedAsksOncePerState: the questions a run asks systemd about its
// units are answered from one show and one is-enabled until the run
// changes something (a gate change, or a start through the manager); then
// they are asked again. The answers are those the one-unit commands give.
func TestViewedAsksOncePerState(t *testing.T) {
	show := "systemctl show --timestamp=us+utc -p Id -p NeedDaemonReload -p ActiveState -p ExecMainPID -p ExecMainStartTimestamp -- " +
		"left4me-web.service left4me-server@*.service var-lib-left4me.mount"
	f := &runner.Fake{Strict: true, Responses: map[string]runner.FakeResponse{
		show: {Stdout: "Id=left4me-web.service\nNeedDaemonReload=yes\nActiveState=active\nExecMainPID=42\nExecMainStartTimestamp=Fri 2026-12-04 19:05:01.123456 UTC\n\n" +
			"Id=var-lib-left4me.mount\nNeedDaemonReload=no\nActiveState=inactive\nExecMainPID=0\nExecMainStartTimestamp=n/a\n"},
		"systemctl is-enabled -- left4me-web.service var-lib-left4me.mount": {Stdout: "enabled\ndisabled\n", Code: 0},
		"systemctl is-active left4me-server@a.service":                      {Stdout: "inactive\n", Code: 3},
		"systemctl start var-lib-left4me.mount":                             {},
	}}
	var gen uint64
	v := newViewed(service.Systemctl{Runner: f}, &gen)
	ctx := context.Background()
	ask := func() {
		t.Helper()
		if on, err := v.IsActive(ctx, hostpath.WebUnit); err != nil || !on {
			t.Fatalf("IsActive(web) = %v, %v", on, err)
		}
		if on, err := v.IsActive(ctx, artifacts.StateMountUnit); err != nil || on {
			t.Fatalf("IsActive(mount) = %v, %v", on, err)
		}
		if on, err := v.IsEnabled(ctx, hostpath.WebUnit); err != nil || !on {
			t.Fatalf("IsEnabled(web) = %v, %v", on, err)
		}
		if on, err := v.IsEnabled(ctx, artifacts.StateMountUnit); err != nil || on {
			t.Fatalf("IsEnabled(mount) = %v, %v", on, err)
		}
		if stale, err := v.NeedDaemonReload(ctx, artifacts.UnitNames()...); err != nil || strings.Join(stale, " ") != hostpath.WebUnit {
			t.Fatalf("NeedDaemonReload = %v, %v", stale, err)
		}
		if at, err := v.MainStarted(ctx, hostpath.WebUnit); err != nil || at.IsZero() {
			t.Fatalf("MainStarted(web) = %v, %v", at, err)
		}
		if at, err := v.MainStarted(ctx, artifacts.StateMountUnit); err != nil || !at.IsZero() {
			t.Fatalf("MainStarted(mount) = %v, %v", at, err)
		}
	}
	ask()
	ask()
	if got := f.Commands(); len(got) != 2 {
		t.Fatalf("a run with no change asked systemd %d times, want 2 (show, is-enabled):\n%s", len(got), strings.Join(got, "\n"))
	}
	// A unit outside the view is asked about by itself.
	if on, err := v.IsActive(ctx, "left4me-server@a.service"); err != nil || on {
		t.Fatalf("IsActive(server@a) = %v, %v", on, err)
	}
	if got := f.Commands(); len(got) != 3 {
		t.Fatalf("commands = %q", got)
	}
	gen++ // a gate change
	ask()
	if got := f.Commands(); len(got) != 5 {
		t.Fatalf("after a change, systemd was asked %d times in all, want 5:\n%s", len(got), strings.Join(got, "\n"))
	}
	if err := v.Start(ctx, artifacts.StateMountUnit); err != nil {
		t.Fatal(err)
	}
	ask()
	if got := f.Commands(); len(got) != 8 || got[5] != "systemctl start var-lib-left4me.mount" {
		t.Fatalf("after a start, commands = %q", got)
	}
}

// TestViewedWithoutEnabledWords: when is-enabled cannot name every unit
// (one not installed), each is asked by itself, as before.
func TestViewedWithoutEnabledWords(t *testing.T) {
	show := "systemctl show --timestamp=us+utc -p Id -p NeedDaemonReload -p ActiveState -p ExecMainPID -p ExecMainStartTimestamp -- " +
		"left4me-web.service left4me-server@*.service var-lib-left4me.mount"
	f := &runner.Fake{Strict: true, Responses: map[string]runner.FakeResponse{
		show: {Stdout: "Id=left4me-web.service\nNeedDaemonReload=no\nActiveState=active\n"},
		"systemctl is-enabled -- left4me-web.service var-lib-left4me.mount": {Stdout: "enabled\n", Stderr: "Failed to get unit file state for var-lib-left4me.mount: No such file or directory\n", Code: 1},
		"systemctl is-enabled var-lib-left4me.mount":                        {Stderr: "Failed to get unit file state\n", Code: 1},
	}}
	var gen uint64
	v := newViewed(service.Systemctl{Runner: f}, &gen)
	if on, err := v.IsEnabled(context.Background(), artifacts.StateMountUnit); err == nil || on {
		t.Fatalf("IsEnabled(mount) = %v, %v; want the one-unit command's error", on, err)
	}
}
