//go:build linux

package ctl

import (
	"os/exec"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// BenchmarkStartStop measures what l4d2ctl adds to a start+stop cycle. The
// baseline, in the same run, is the same work by hand: left4me-overlay mount,
// left4me-systemctl start, left4me-systemctl stop, left4me-overlay umount,
// each exec'd directly. Both use the real overlay helper mounting a real
// kernel overlay (in the test's namespace) and the real left4me-systemctl in
// front of a stand-in systemctl. Compare the two with benchstat:
//
//	go test -run '^$' -bench StartStop -count 10 ./ctl | tee bench.txt
func BenchmarkStartStop(b *testing.B) {
	e := newRealEnv(b)
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", hostpath.RootEnv + "=" + e.root, "LEFT4ME_SYSTEMCTL=" + e.standIn}
	run := func(b *testing.B, argv ...string) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%q: %v\n%s", argv, err, out)
		}
	}
	ov, sys := e.bin["left4me-overlay"], e.bin["left4me-systemctl"]
	// --settle 0s: start asks the unit once, as the baseline does; the
	// settle window itself is waiting, not cost.
	ctlArgs := []string{e.bin["l4d2ctl"], "--no-sudo", "--root", e.root, "--overlay-helper", ov, "--systemctl-helper", sys, "--settle", "0s"}

	b.Run("by-hand", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run(b, ov, "mount", "a")
			run(b, sys, "start", "a")
			run(b, sys, "stop", "a")
			run(b, ov, "umount", "a")
		}
	})
	// The same helper calls l4d2ctl makes (reset-failed before start, the
	// show after it): the difference to l4d2ctl is l4d2ctl's own cost (two
	// process starts and its checks).
	b.Run("by-hand-same-calls", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run(b, ov, "mount", "a")
			run(b, sys, "reset-failed", "a")
			run(b, sys, "start", "a")
			run(b, sys, "show", "a")
			run(b, sys, "stop", "a")
			run(b, ov, "umount", "a")
		}
	})
	b.Run("l4d2ctl", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			run(b, append(ctlArgs, "start", "a")...)
			run(b, append(ctlArgs, "stop", "a")...)
		}
	})
	if got := mountsAt(b, e.merged("a")); len(got) != 0 {
		b.Fatalf("mounts left at merged: %q", got)
	}
}
