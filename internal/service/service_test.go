package service

import (
	"context"
	"reflect"
	"testing"

	"github.com/left4me/left4me-deploy/internal/runner"
)

func TestSystemctlArgv(t *testing.T) {
	f := &runner.Fake{Responses: map[string]runner.FakeResponse{
		"systemctl is-active a.service": {Stdout: "inactive\n", Code: 3},
		"systemctl is-active b.service": {Stdout: "active\n"},
		"systemctl list-units --state=active --plain --no-legend --no-pager --full left4me-server@*.service": {
			Stdout: "left4me-server@b.service loaded active running x\nleft4me-server@a.service loaded active running y\n"},
	}}
	s := Systemctl{Runner: f}
	ctx := context.Background()
	if ok, err := s.IsActive(ctx, "a.service"); ok || err != nil {
		t.Fatalf("IsActive(a) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.IsActive(ctx, "b.service"); !ok || err != nil {
		t.Fatalf("IsActive(b) = %v, %v; want true, nil", ok, err)
	}
	units, err := s.ListActive(ctx, "left4me-server@*.service")
	want := []string{"left4me-server@a.service", "left4me-server@b.service"}
	if err != nil || !reflect.DeepEqual(units, want) {
		t.Fatalf("ListActive = %q, %v; want %q", units, err, want)
	}
	if err := s.Stop(ctx); err != nil || len(f.Calls) != 3 {
		t.Fatalf("Stop() with no units ran a command: %v", f.Commands())
	}
}

func TestSystemctlEnablerArgv(t *testing.T) {
	f := &runner.Fake{Responses: map[string]runner.FakeResponse{
		"systemctl is-enabled a.service": {Stdout: "disabled\n", Code: 1},
		"systemctl is-enabled b.service": {Stdout: "static\n"},
		"systemctl is-enabled c.service": {Code: 1, Stderr: "Failed to get unit file state\n"},
	}}
	var e Enabler = Systemctl{Runner: f}
	ctx := context.Background()
	if ok, err := e.IsEnabled(ctx, "a.service"); ok || err != nil {
		t.Fatalf("IsEnabled(a) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := e.IsEnabled(ctx, "b.service"); !ok || err != nil {
		t.Fatalf("IsEnabled(b) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := e.IsEnabled(ctx, "c.service"); ok || err == nil {
		t.Fatalf("IsEnabled(c) = %v, %v; want false and the error", ok, err)
	}
	if err := e.Enable(ctx, "a.service"); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl is-enabled a.service", "systemctl is-enabled b.service", "systemctl is-enabled c.service", "systemctl enable a.service"}
	if got := f.Commands(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands = %q, want %q", got, want)
	}
}
