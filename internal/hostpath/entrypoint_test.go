package hostpath

import "testing"

func TestEntryPoint(t *testing.T) {
	if got, want := EntryPoint(OverlayHelper, "mount"), "/usr/local/libexec/left4me/left4me-overlay-mount"; got != want {
		t.Fatalf("EntryPoint(%q, mount) = %q, want %q", OverlayHelper, got, want)
	}
}
