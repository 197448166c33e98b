//go:build linux

package steps

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/migrate"
)

// After a failed run, the web app a migration stopped (and left stopped so a
// later run can finish) is started again; game servers are not.
func TestMigrationCleanupStartsWeb(t *testing.T) {
	tests := []struct {
		name   string
		rep    *migrate.Report
		active bool
		want   string
	}{
		{"stopped the active web app", &migrate.Report{Services: migrate.Services{Made: true, Stop: []string{"left4me-server@a.service", hostpath.WebUnit}, Start: []string{hostpath.WebUnit, "left4me-server@a.service"}}}, false, "is-active left4me-web.service; start left4me-web.service"},
		{"web app was not running", &migrate.Report{Services: migrate.Services{Made: true, Stop: []string{hostpath.WebUnit}}}, false, ""},
		{"only reported (--root)", &migrate.Report{Services: migrate.Services{Made: false, Start: []string{hostpath.WebUnit}}}, false, ""},
		{"already running again", &migrate.Report{Services: migrate.Services{Made: true, Start: []string{hostpath.WebUnit}}}, true, "is-active left4me-web.service"},
		{"migration never ran", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeServices{active: map[string]bool{hostpath.WebUnit: tt.active}}
			m := &migration{d: &Host{o: Config{Services: svc}}, rep: tt.rep}
			g := NewGate("migration", false, false, func(Event) {})
			if err := m.Cleanup(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if got := svc.take(); got != tt.want {
				t.Fatalf("Cleanup calls %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeServices is a service.Manager that records calls; failRestart makes
// Restart fail.
type fakeServices struct {
	mu          sync.Mutex
	calls       []string
	active      map[string]bool
	enabled     bool
	failRestart bool
}

func (f *fakeServices) record(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }
func (f *fakeServices) IsActive(ctx context.Context, unit string) (bool, error) {
	f.record("is-active " + unit)
	return f.active[unit], nil
}
func (f *fakeServices) ListActive(ctx context.Context, pattern string) ([]string, error) {
	return nil, nil
}
func (f *fakeServices) Start(ctx context.Context, units ...string) error {
	f.record("start " + strings.Join(units, " "))
	for _, u := range units {
		f.active[u] = true
	}
	return nil
}
func (f *fakeServices) Stop(ctx context.Context, units ...string) error {
	f.record("stop " + strings.Join(units, " "))
	for _, u := range units {
		f.active[u] = false
	}
	return nil
}
func (f *fakeServices) Restart(ctx context.Context, units ...string) error {
	f.record("restart " + strings.Join(units, " "))
	if f.failRestart {
		return errors.New("unit left4me-web.service failed")
	}
	for _, u := range units {
		f.active[u] = true
	}
	return nil
}
func (f *fakeServices) DaemonReload(ctx context.Context) error { f.record("daemon-reload"); return nil }
func (f *fakeServices) IsEnabled(ctx context.Context, unit string) (bool, error) {
	f.record("is-enabled " + unit)
	return f.enabled, nil
}
func (f *fakeServices) Enable(ctx context.Context, units ...string) error {
	f.record("enable " + strings.Join(units, " "))
	f.enabled = true
	return nil
}

func (f *fakeServices) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, "; ")
	f.calls = nil
	return s
}
