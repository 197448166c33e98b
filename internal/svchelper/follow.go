package svchelper

import (
	"strconv"
	"time"
)

// FollowLimits bound left4me-journalctl -f, which root runs for as long as
// it is followed and which holds an inotify instance of root's (a limit
// every root process shares): a follow ends when its caller (sudo) ends,
// after Lifetime at the latest, and at most Max run on the host at once.
type FollowLimits struct {
	Dir      string // root-only directory of the slot files
	Max      int
	Lifetime time.Duration
}

// Defaults of FollowLimits.
const (
	FollowDir      = "/run/left4me-journal"
	MaxFollows     = 16
	FollowLifetime = 6 * time.Hour
)

// Test-only settings of FollowLimits, honoured only when the helper was
// not started through sudo.
const (
	FollowDirEnv      = "LEFT4ME_JOURNAL_FOLLOW_DIR"
	MaxFollowsEnv     = "LEFT4ME_JOURNAL_MAX_FOLLOWS"
	FollowLifetimeEnv = "LEFT4ME_JOURNAL_FOLLOW_LIFETIME"
)

func followLimits(getenv Getenv) FollowLimits {
	lim := FollowLimits{Dir: FollowDir, Max: MaxFollows, Lifetime: FollowLifetime}
	if StartedBySudo(getenv) {
		return lim
	}
	if v := getenv(FollowDirEnv); v != "" {
		lim.Dir = v
	}
	if n, err := strconv.Atoi(getenv(MaxFollowsEnv)); err == nil && n > 0 {
		lim.Max = n
	}
	if d, err := time.ParseDuration(getenv(FollowLifetimeEnv)); err == nil && d > 0 {
		lim.Lifetime = d
	}
	return lim
}

// isFollow reports a journalctl argv built by JournalctlArgv with -f.
func isFollow(argv []string) bool { return len(argv) > 0 && argv[len(argv)-1] == "-f" }
