package service

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// Recorder is a Manager and Enabler for tests of what the installer asks
// of systemd: it records every call as one line ("is-active UNIT",
// "restart UNIT", "daemon-reload", ...) and keeps the units' states in
// Active and Enabled. FailRestart makes Restart fail.
type Recorder struct {
	mu          sync.Mutex
	calls       []string
	Active      map[string]bool
	Enabled     bool
	FailRestart bool
}

func (f *Recorder) record(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

// IsActive implements Manager.
func (f *Recorder) IsActive(ctx context.Context, unit string) (bool, error) {
	f.record("is-active " + unit)
	return f.Active[unit], nil
}

// ListActive implements Manager: nothing.
func (f *Recorder) ListActive(ctx context.Context, pattern string) ([]string, error) {
	return nil, nil
}

// Start implements Manager.
func (f *Recorder) Start(ctx context.Context, units ...string) error {
	f.record("start " + strings.Join(units, " "))
	for _, u := range units {
		f.Active[u] = true
	}
	return nil
}

// Stop implements Manager.
func (f *Recorder) Stop(ctx context.Context, units ...string) error {
	f.record("stop " + strings.Join(units, " "))
	for _, u := range units {
		f.Active[u] = false
	}
	return nil
}

// Restart implements Manager.
func (f *Recorder) Restart(ctx context.Context, units ...string) error {
	f.record("restart " + strings.Join(units, " "))
	if f.FailRestart {
		return errors.New("unit left4me-web.service failed")
	}
	for _, u := range units {
		f.Active[u] = true
	}
	return nil
}

// DaemonReload implements Manager.
func (f *Recorder) DaemonReload(ctx context.Context) error { f.record("daemon-reload"); return nil }

// IsEnabled implements Enabler.
func (f *Recorder) IsEnabled(ctx context.Context, unit string) (bool, error) {
	f.record("is-enabled " + unit)
	return f.Enabled, nil
}

// Enable implements Enabler.
func (f *Recorder) Enable(ctx context.Context, units ...string) error {
	f.record("enable " + strings.Join(units, " "))
	f.Enabled = true
	return nil
}

// Take returns the calls since the last Take, joined with "; ".
func (f *Recorder) Take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, "; ")
	f.calls = nil
	return s
}
