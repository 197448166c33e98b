//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestInstallTranscripts makes the transcripts of docs/install.md ("A real
// run"): on a booted host with this checkout's binaries in /opt/l4m, each
// block's $ lines run literally, in the page's order, and the output is
// compared with the page.
func TestInstallTranscripts(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	blocks := []string{"install-render", "install-demo", "install-hand-edits", "install-live", "install-host", "install-host-diff"}
	s := newScenario(t, "install transcripts", append([]string{"boot"}, blocks...)...)
	h := bootHost(t, "install", func(root string) {
		for _, n := range []string{"left4me-deploy", "left4me-overlay", "left4me-systemctl", "left4me-journalctl", "l4d2ctl"} {
			install(t, bin(t, n), filepath.Join(root, "opt/l4m", n), 0o755)
		}
	})
	s.pass("boot", fmt.Sprintf("systemd %s, sshd on 127.0.0.1:%d", h.BootState, h.Port))
	prev := "boot"
	for _, name := range blocks {
		s.check(name, []string{prev}, func(c *C) {
			checkTranscript(c, "docs/install.md", name, runDocBlock(c, h, "docs/install.md", name))
		})
		prev = name
	}
	s.finish()
}
