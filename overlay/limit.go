package overlay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The host-wide cap on instance overlays. Every mount the helper makes
// lands in PID 1's namespace, where systemd makes a mount unit of each and
// every later mount and daemon-reload pays for all of them; the owner of
// the state dir can invent instance names at will. So mount refuses once
// MaxMounts overlays of this helper are mounted in the target namespace,
// counted in that namespace's mount table (type overlay, source
// left4me-NAME: only root mounts there), not in any counter the owner can
// reach.
const (
	// DefaultMaxMounts is the cap when MaxMountsFile does not exist: far
	// more game servers than one host runs.
	DefaultMaxMounts = 64
	// MaxMountsFile holds the host's cap, a decimal number on one line;
	// it must be a root-owned regular file no one else may write.
	MaxMountsFile = "/etc/left4me/overlay-max-mounts"
	// EnvMaxMounts is the test-only setting of the cap (not under sudo).
	EnvMaxMounts = "LEFT4ME_OVERLAY_MAX_MOUNTS"
	// mountsLockDir holds the lock that makes count-then-mount one step
	// across concurrent helpers: root-only, in /run, which only root
	// writes.
	mountsLockDir = "/run/left4me-overlay"
	maxMountsCeil = 100000
)

// ErrTooManyMounts: MaxMounts instance overlays are mounted already.
var ErrTooManyMounts = errors.New("too many instance overlays mounted")

// ParseMaxMounts parses the cap as MaxMountsFile holds it: 1 to 100000,
// digits only, surrounding blanks ignored. The deploy checks --max-mounts
// with it before writing the file, so the helper never meets a value it
// refuses.
func ParseMaxMounts(s string) (int, error) { return parseMaxMounts(s) }

// parseMaxMounts parses the cap: 1 to 100000, digits only.
func parseMaxMounts(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxMountsCeil || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("max mounts %.20q: want a number from 1 to %d", s, maxMountsCeil)
	}
	return n, nil
}
