//go:build linux

package steps

import (
	"context"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/service"
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
			svc := &service.Recorder{Active: map[string]bool{hostpath.WebUnit: tt.active}}
			m := &migration{d: &Host{o: Config{Services: svc}}, rep: tt.rep}
			g := NewGate("migration", false, false, func(Event) {})
			if err := m.Cleanup(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if got := svc.Take(); got != tt.want {
				t.Fatalf("Cleanup calls %q, want %q", got, tt.want)
			}
		})
	}
}
