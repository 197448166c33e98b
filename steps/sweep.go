//go:build linux

package steps

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// A run killed mid-step leaves what it had in flight: the temporary file
// of an atomic write beside its target (".NAME" and digits, see
// hostfile.File), a half-kept release (ReleasesDir/.tmp-DIGITS), a partial
// upload in the binary cache (cache/.in.*). The sweep at the start of
// every run, under the deploy lock, removes exactly those names, and only
// in directories no one but root can write to; status lists them.

// uploadAge is how old a partial upload must be (or from before the boot)
// before a run removes it: uploads are not under the deploy lock, and one
// in flight keeps writing.
const uploadAge = 10 * time.Minute

// tempNames maps each root-owned directory the deploy writes into to the
// names it writes there atomically.
func tempNames(o Config) (map[string][]string, error) {
	m := map[string][]string{}
	for _, b := range Programs {
		dir := filepath.Dir(b.Dest)
		m[dir] = append(m[dir], filepath.Base(b.Dest))
	}
	m[filepath.Dir(hostpath.SudoersFile)] = append(m[filepath.Dir(hostpath.SudoersFile)], filepath.Base(hostpath.SudoersFile))
	units, err := artifacts.Render(artifacts.Params{User: o.User, Group: o.Group, WebExec: o.WebExec})
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		m[hostpath.UnitDir] = append(m[hostpath.UnitDir], u.Name)
	}
	for _, p := range []string{hostpath.PendingRestart, hostpath.WebExecFile, hostpath.DeployMigrationReport, HistoryFile} {
		m[filepath.Dir(p)] = append(m[filepath.Dir(p)], filepath.Base(p))
	}
	return m, nil
}

// isTempOf reports whether name is an atomic write's temporary file for
// one of bases: "." + base + decimal digits.
func isTempOf(name string, bases []string) bool {
	for _, b := range bases {
		if rest, ok := strings.CutPrefix(name, "."+b); ok && allDigits(rest) {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// rootOnlyDir reports whether p is a real directory owned by root that
// neither its group nor others can write to.
func rootOnlyDir(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && fi.Mode().Perm()&0o022 == 0
}

func ownedByRoot(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}

// Leftovers lists (as host paths) what killed runs left under o.Root, as
// of now.
func Leftovers(o Config, now time.Time) ([]string, error) {
	names, err := tempNames(o)
	if err != nil {
		return nil, err
	}
	var out []string
	scan := func(hostDir string, match func(e fs.DirEntry, fi fs.FileInfo) bool) error {
		dir := o.Root.Join(hostDir)
		if !rootOnlyDir(dir) {
			return nil
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", hostDir, err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil || !ownedByRoot(fi) {
				continue
			}
			if match(e, fi) {
				out = append(out, hostDir+"/"+e.Name())
			}
		}
		return nil
	}
	for _, dir := range slices.Sorted(maps.Keys(names)) {
		bases := names[dir]
		if err := scan(dir, func(e fs.DirEntry, fi fs.FileInfo) bool {
			return fi.Mode().IsRegular() && isTempOf(e.Name(), bases)
		}); err != nil {
			return nil, err
		}
	}
	if err := scan(ReleasesDir, func(e fs.DirEntry, fi fs.FileInfo) bool {
		rest, ok := strings.CutPrefix(e.Name(), ".tmp-")
		return ok && fi.IsDir() && allDigits(rest)
	}); err != nil {
		return nil, err
	}
	boot := bootTime()
	if err := scan(hostpath.DeployStateDir+"/cache", func(e fs.DirEntry, fi fs.FileInfo) bool {
		if !strings.HasPrefix(e.Name(), ".in.") || !fi.Mode().IsRegular() {
			return false
		}
		return fi.ModTime().Before(boot) || now.Sub(fi.ModTime()) > uploadAge
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// Sweep removes the leftovers of killed runs; it runs under the lock,
// before the plan. What it removes is the installer's own debris, not a
// change of the host: it is logged to emit, not counted.
func Sweep(o Config, emit func(Event)) error {
	found, err := Leftovers(o, time.Now())
	if err != nil {
		return err
	}
	synced := map[string]bool{}
	for _, p := range found {
		if err := os.RemoveAll(o.Root.Join(p)); err != nil {
			return fmt.Errorf("remove %s, left by an interrupted run: %w", p, err)
		}
		synced[filepath.Dir(p)] = false
		emit(Event{Type: EventLog, Step: "sweep", Reason: "removed " + p + ", left by an interrupted run"})
	}
	for dir := range synced {
		if err := hostfile.SyncDir(o.Root.Join(dir)); err != nil {
			return err
		}
	}
	return nil
}

// bootTime is when this machine booted (btime in /proc/stat); the zero
// time when unknown, so that only age counts.
func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}
