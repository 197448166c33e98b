package protocol

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// Architectures are the Linux architectures a host may run, as GOARCH:
// the only architecture words a host may send besides "unknown".
var Architectures = []string{"amd64", "arm64"}

// ArchUnknown is root.sh's word for an architecture left4me has no
// binaries for.
const ArchUnknown = "unknown"

// StepNames are the step names a host's events may carry: the steps of
// the plan (deploy.go; a test there keeps the two in step), the early
// failures and the cleanup before it (lock, options, sweep), the
// rollback's own, and status's check of the host against its record.
var StepNames = []string{
	"preflight", "packages", "accounts", "directories", "sudoers", "binaries",
	"entrypoints", "units", "migration", "restart", "verify", "state mount", "release",
	"lock", "options", "sweep", "rollback", "recorded",
}

// Statuses are the outcomes a step event may carry.
var Statuses = []string{"ok", "changed", "skipped", "failed"}

var (
	checksumRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	releaseRE  = regexp.MustCompile(`^[0-9a-f]{16}$`)
	// A login name as id -un prints it, and a word of uname.
	userRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?$`)
	systemRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$`)
)

// RefusedError is a word of the host outside the protocol's closed set.
// Its message names what the word was to be and the word, escaped.
type RefusedError struct {
	What string // "architecture", "checksum", "step name" ...
	Word string
	Want string // the closed set or its form
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused %s %s (want %s)", e.What, textsafe.Quote(e.Word), e.Want)
}

func refuse(what, word, want string) error {
	return &RefusedError{What: what, Word: word, Want: want}
}

// CheckArch accepts a GOARCH of Architectures.
func CheckArch(s string) error {
	if !slices.Contains(Architectures, s) {
		return refuse("architecture", s, "amd64 or arm64")
	}
	return nil
}

// CheckChecksum accepts a SHA-256 in lower-case hex.
func CheckChecksum(s string) error {
	if !checksumRE.MatchString(s) {
		return refuse("checksum", s, "64 lower-case hex digits")
	}
	return nil
}

// CheckRelease accepts a release id (release.ContentID).
func CheckRelease(s string) error {
	if !releaseRE.MatchString(s) {
		return refuse("release id", s, "16 lower-case hex digits")
	}
	return nil
}

// CheckStep accepts a step name of StepNames.
func CheckStep(s string) error {
	if !slices.Contains(StepNames, s) {
		return refuse("step name", s, "a step of the plan")
	}
	return nil
}

func checkUser(s string) error {
	if !userRE.MatchString(s) {
		return refuse("user name", s, "a login name")
	}
	return nil
}

func checkSystem(what, s string) error {
	if !systemRE.MatchString(s) {
		return refuse(what, s, "a word of uname")
	}
	return nil
}
