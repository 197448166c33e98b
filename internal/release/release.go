// Package release is the host's record of what was deployed: the release
// history (the last HistoryLength releases as JSON lines, root's, outside
// the unprivileged user's tree), the choice of a rollback target, and the
// status report a host sends to "left4me-deploy status". It is plain data
// and files, shared by the installer on the host and the workstation.
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/version"
)

// Host paths, under the installer's own root-only state directory.
const (
	StateDir = "/var/lib/left4me-deploy"
	// HistoryFile holds the last HistoryLength records, oldest first.
	HistoryFile = StateDir + "/releases.jsonl"
	// Dir keeps, for the last Kept distinct releases, the binaries and
	// rendered artifacts as installed (Dir/ID/), for rollback.
	Dir = StateDir + "/releases"
)

// Bounds of what a host keeps.
const (
	HistoryLength = 10
	Kept          = 3
)

// Kinds of record.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
	// KindReconciled records what a run found installed when it differed
	// from the newest record and the run itself changed nothing: an
	// earlier run that died after its changes and before its record, or
	// files changed by hand. Note says which.
	KindReconciled = "reconciled"
)

// ErrNoPrevious means there is no release to roll back to.
var ErrNoPrevious = errors.New("no previous release to roll back to")

// Release is one line of the history: what a deploy that changed the host
// left installed.
type Release struct {
	// ID names the installed content: a hash of Files. The same binaries
	// and artifacts always have the same ID.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Version, Commit and Modified are the build information of the
	// installer that ran (internal/version).
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Time is when the deploy finished, UTC, to the second.
	Time time.Time `json:"time"`
	// By is the workstation user@host that ran the deploy, or the local
	// user for apply --local.
	By string `json:"by"`
	// From is, for a rollback, the ID of the release it replaced.
	From string `json:"from,omitempty"`
	// Files maps every installed binary and rendered artifact (host path)
	// to its SHA-256.
	Files map[string]string `json:"files"`
	// Deployer is the SHA-256 of the left4me-deploy that ran the plan.
	Deployer string `json:"deployer,omitempty"`
	// Note says how a reconciled record came about.
	Note string `json:"note,omitempty"`
}

// Differ lists the paths whose checksums differ between a record's files
// and installed (a path missing from either side differs), sorted.
func Differ(recorded, installed map[string]string) []string {
	var out []string
	for p, sum := range recorded {
		if installed[p] != sum {
			out = append(out, p)
		}
	}
	for p := range installed {
		if _, ok := recorded[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ContentID hashes a file map into a release ID (16 hex digits).
func ContentID(files map[string]string) string {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s %s\n", p, files[p])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ShortCommit is the commit as --version prints it.
func (r Release) ShortCommit() string {
	return version.Info{Commit: r.Commit, Modified: r.Modified}.ShortCommit()
}

// Describe is the one line that names a release in the installer's output:
// "release ID: VERSION commit COMMIT, KIND at TIME by USER@HOST". The
// workstation reads the ID from it (remote.Result.Release).
func (r Release) Describe() string {
	s := fmt.Sprintf("release %s: %s commit %s, %s at %s by %s", r.ID, r.Version, r.ShortCommit(), r.Kind, r.Time.Format(time.RFC3339), r.By)
	if r.From != "" {
		s += ", replacing " + r.From
	}
	return s
}

// ReadHistory returns the records under root, oldest first; none when no
// deploy was recorded. A line that does not parse is an error: the file is
// root's and written atomically.
func ReadHistory(root hostpath.Root) ([]Release, error) {
	b, err := os.ReadFile(root.Join(HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", HistoryFile, err)
	}
	var hist []Release
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r Release
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", HistoryFile, n, err)
		}
		hist = append(hist, r)
	}
	return hist, sc.Err()
}

// Last returns the newest record, or nil.
func Last(root hostpath.Root) (*Release, error) {
	hist, err := ReadHistory(root)
	if err != nil || len(hist) == 0 {
		return nil, err
	}
	return &hist[len(hist)-1], nil
}

// Append adds r to the history and keeps the newest HistoryLength lines,
// replacing the file atomically (mode 0600).
func Append(root hostpath.Root, r Release) error {
	hist, err := ReadHistory(root)
	if err != nil {
		return err
	}
	hist = append(hist, r)
	if len(hist) > HistoryLength {
		hist = hist[len(hist)-HistoryLength:]
	}
	var buf bytes.Buffer
	for _, h := range hist {
		b, err := json.Marshal(h)
		if err != nil {
			return err
		}
		buf.Write(append(b, '\n'))
	}
	if err := WriteDurable(root.Join(HistoryFile), buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", HistoryFile, err)
	}
	return nil
}

// WriteDurable replaces path with data: a temporary file beside it
// (".NAME" and digits), fsynced, renamed over path, and the directory
// fsynced, so that after a power loss path holds the old data or the new,
// never a mix or nothing.
func WriteDurable(path string, data []byte, perm fs.FileMode) error {
	if err := renameio.WriteFile(path, data, perm, renameio.WithTempDir(filepath.Dir(path))); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Previous picks the rollback target in a history: the newest release,
// older than the last forward deploy, that installed different files.
// Rollbacks are not forward deploys, so a second rollback picks the same
// target as the first and changes nothing. It returns the target and the
// release it replaces.
func Previous(hist []Release) (target, current Release, err error) {
	last := -1
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Kind != KindRollback {
			last = i
			break
		}
	}
	if last < 0 {
		if len(hist) == 0 {
			return target, current, fmt.Errorf("%w: no release is recorded in %s (a deploy that changes something records one)", ErrNoPrevious, HistoryFile)
		}
		return target, current, fmt.Errorf("%w: %s records no deploy, only rollbacks", ErrNoPrevious, HistoryFile)
	}
	current = hist[last]
	for i := last - 1; i >= 0; i-- {
		if hist[i].ID != current.ID {
			return hist[i], current, nil
		}
	}
	return target, current, fmt.Errorf("%w: every recorded deploy installed release %s (%s); the history keeps the last %d", ErrNoPrevious, current.ID, current.Version, HistoryLength)
}

// FileSHA256 is the hex SHA-256 of the file at p, as release records and
// the binaries' checksum lists write it.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
