package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HostArgs is everything the workstation asks of the program it runs on a
// host, in one value: remote fills it and encodes it (Encode) as one
// argument of remote/root.sh, which runs the staged program as
// "left4me-deploy host --bin-dir STAGE ARGS"; that verb decodes it
// (DecodeHostArgs) and runs the plan, the status report or the rollback.
//
// The host program is always the one the workstation shipped, from the
// same build (a release bundle carries both, and a checkout builds both),
// so no other version ever reads this encoding: a field may be added,
// renamed or removed freely, and DecodeHostArgs refuses a field it does
// not know. What does cross versions is ApplyFlags: a rollback runs an
// older release's installer with them.
type HostArgs struct {
	// Verb is what the host runs; "" is VerbApply.
	Verb HostVerb `json:"verb,omitempty"`
	// Root is the directory the host acts under instead of /; "" is /.
	Root string `json:"root,omitempty"`
	// DryRun reports what would change and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Diff shows a unified diff of every file that changes.
	Diff bool `json:"diff,omitempty"`
	// WebExec is the web unit's ExecStart=; "" keeps the one an earlier
	// deploy set, else the installer's default.
	WebExec string `json:"web_exec,omitempty"`
	// MaxMounts is the host's cap on instance overlays; 0 keeps the one an
	// earlier deploy set.
	MaxMounts int `json:"max_mounts,omitempty"`
	// By names the workstation (user@host) in the host's release record.
	By string `json:"by,omitempty"`
}

// HostVerb is what the workstation runs on a host.
type HostVerb string

// The host verbs.
const (
	VerbApply    HostVerb = "apply"    // run the install plan
	VerbStatus   HostVerb = "status"   // report the host's state (one HostStatus) and the dry run
	VerbRollback HostVerb = "rollback" // put the previous release back
)

// Bounds of HostArgs.
const (
	// MaxHostArgs bounds the encoded HostArgs, one command-line argument
	// (Linux takes up to 128 KiB in one).
	MaxHostArgs = 16 << 10
	// MaxHostPath bounds Root and WebExec.
	MaxHostPath = 4096
	// MaxBy bounds By.
	MaxBy = 256
	// MaxMountsLimit is the highest MaxMounts (overlay.ParseMaxMounts
	// takes the same range).
	MaxMountsLimit = 100000
)

// Validate checks a against the bounds and the verb: status only reads,
// so it takes no dry run, diff, web unit or cap; a rollback puts back the
// previous release's own web unit and cap, so it takes neither.
func (a HostArgs) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("host arguments: "+format, args...)
	}
	switch a.Verb {
	case "", VerbApply, VerbStatus, VerbRollback:
	default:
		return bad("unknown verb %q (want %s, %s or %s)", a.Verb, VerbApply, VerbStatus, VerbRollback)
	}
	if a.Root != "" && !strings.HasPrefix(a.Root, "/") {
		return bad("root %q: want an absolute path", a.Root)
	}
	for _, f := range []struct{ name, v string }{{"root", a.Root}, {"web_exec", a.WebExec}} {
		if len(f.v) > MaxHostPath {
			return bad("%s: longer than %d bytes", f.name, MaxHostPath)
		}
		if strings.ContainsAny(f.v, "\x00\n") || !utf8.ValidString(f.v) {
			return bad("%s %q: a NUL, a line break or invalid UTF-8", f.name, f.v)
		}
	}
	if len(a.By) > MaxBy || strings.IndexFunc(a.By, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(a.By) {
		return bad("by %q: want at most %d printable characters", a.By, MaxBy)
	}
	if a.MaxMounts < 0 || a.MaxMounts > MaxMountsLimit {
		return bad("max_mounts %d: want a number from 1 to %d (0 keeps the host's)", a.MaxMounts, MaxMountsLimit)
	}
	switch {
	case a.Verb == VerbStatus && (a.DryRun || a.Diff || a.WebExec != "" || a.MaxMounts != 0):
		return bad("status takes no dry_run, diff, web_exec or max_mounts")
	case a.Verb == VerbRollback && (a.WebExec != "" || a.MaxMounts != 0):
		return bad("rollback takes no web_exec or max_mounts")
	}
	return nil
}

// Encode is a as the one argument of the host verb: JSON, checked.
func (a HostArgs) Encode() (string, error) {
	if err := a.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	if len(b) > MaxHostArgs {
		return "", fmt.Errorf("host arguments: %d bytes encoded, more than %d", len(b), MaxHostArgs)
	}
	return string(b), nil
}

// DecodeHostArgs reads what Encode wrote: one JSON object with only
// HostArgs's fields, within the bounds, valid.
func DecodeHostArgs(s string) (HostArgs, error) {
	var a HostArgs
	if len(s) > MaxHostArgs {
		return a, fmt.Errorf("host arguments: %d bytes, more than %d", len(s), MaxHostArgs)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return HostArgs{}, fmt.Errorf("host arguments: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return HostArgs{}, errors.New("host arguments: more after the JSON object")
	}
	if err := a.Validate(); err != nil {
		return HostArgs{}, err
	}
	return a, nil
}

// ApplyFlags are the flags of "left4me-deploy apply --local" that say
// what a carries (the verb aside). A rollback runs the kept installer of
// an older release with them, so they keep their names and meaning from
// one release to the next.
func (a HostArgs) ApplyFlags() []string {
	var out []string
	if a.Root != "" {
		out = append(out, "--root", a.Root)
	}
	if a.DryRun {
		out = append(out, "--dry-run")
	}
	if a.Diff {
		out = append(out, "--diff")
	}
	if a.WebExec != "" {
		out = append(out, "--web-exec", a.WebExec)
	}
	if a.MaxMounts > 0 {
		out = append(out, "--max-mounts", strconv.Itoa(a.MaxMounts))
	}
	if a.By != "" {
		out = append(out, "--by", a.By)
	}
	return out
}
