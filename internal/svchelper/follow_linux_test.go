//go:build linux

package svchelper

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTakeSlot: at most Max follow slots are held at once; a closed one is
// free again.
func TestTakeSlot(t *testing.T) {
	lim := FollowLimits{Dir: filepath.Join(t.TempDir(), "slots"), Max: 2, Lifetime: time.Hour}
	a, err := takeSlot(lim)
	if err != nil {
		t.Fatal(err)
	}
	b, err := takeSlot(lim)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := takeSlot(lim); err == nil || !strings.Contains(err.Error(), "2 follows (-f) are running on this host already") {
		t.Fatalf("third takeSlot = %v; want the cap", err)
	}
	a.Close()
	c, err := takeSlot(lim)
	if err != nil {
		t.Fatalf("takeSlot after one closed = %v", err)
	}
	c.Close()
}
