//go:build linux

package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostfile"

	"github.com/left4me/left4me-deploy/artifacts"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/version"
	"github.com/left4me/left4me-deploy/sudoers"
)

// Where the installer keeps its release records (package release).
const (
	HistoryFile = release.HistoryFile
	ReleasesDir = release.Dir
	// DeployBinary is the installer itself, kept with each release: a
	// rollback runs the old release's own plan.
	DeployBinary = "left4me-deploy"
)

// LocalUser is "user@host" of whoever runs this program: the sudo caller
// when run through sudo.
func LocalUser() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = fmt.Sprint(os.Getuid())
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return name + "@" + host
}

// release records the release when the run changed something: the history
// line and a copy of the installed binaries and artifacts for rollback. A
// run that changed nothing writes nothing. The record is the installer's
// own bookkeeping, like the pending restart: it is not counted as a change
// of the host, so a run's changed count is what it did to the host.
type releaseStep struct{ d *Host }

// Release is the release step of h's run.
func Release(h *Host) Step { return releaseStep{h} }

func (releaseStep) Name() string { return "release" }

func (s releaseStep) Run(ctx context.Context, g *Gate) error {
	d := s.d
	last, err := release.Last(d.root)
	if err != nil {
		return err
	}
	files, err := d.installedFiles()
	if err != nil {
		if g.DryRun() {
			// Not installed yet: the real run installs first.
			g.Note("would record the release in %s", HistoryFile)
			return nil
		}
		return err
	}
	id := release.ContentID(files)
	// The record must say what is installed, whatever this run did: a run
	// that changed the host and died before this step left the files
	// without their record, and the next run (which changes nothing)
	// records them now.
	matches := last != nil && last.ID == id
	note := ""
	if !matches && d.changedSteps == 0 {
		if last == nil {
			note = "installed files found without a record"
		} else {
			note = "installed files differ from release " + last.ID + " (" + strings.Join(release.Differ(last.Files, files), ", ") + "): an interrupted deploy or a change by hand"
		}
	}
	if d.changedSteps == 0 && matches {
		g.Note("nothing changed; the installed files are release %s", id)
		g.Log("%s", last.Describe())
		d.released(last.ID)
		return nil
	}
	if g.DryRun() {
		if note != "" {
			g.Note("would record the installed files as release %s: %s", id, note)
		} else {
			g.Note("would record the release in %s", HistoryFile)
		}
		return nil
	}
	deployer, err := d.deployerBinary()
	if err != nil {
		return err
	}
	deployerSum, err := release.FileSHA256(deployer)
	if err != nil {
		return fmt.Errorf("checksum %s: %w", deployer, err)
	}
	info := version.Read()
	r := release.Release{
		ID:       id,
		Kind:     d.o.Release.Kind,
		Version:  info.Version,
		Commit:   info.Commit,
		Modified: info.Modified,
		Time:     time.Now().UTC().Truncate(time.Second),
		By:       d.o.Release.By,
		From:     d.o.Release.From,
		Files:    files,
		Deployer: deployerSum,
	}
	if r.Kind == "" {
		r.Kind = release.KindDeploy
	}
	if note != "" {
		r.Kind, r.Note = release.KindReconciled, note
		if last != nil {
			r.From = last.ID
		}
	}
	if r.By == "" {
		r.By = LocalUser()
	}
	if err := d.keepRelease(r, deployer); err != nil {
		return fmt.Errorf("record the release: %w", err)
	}
	if err := release.Append(d.root, r); err != nil {
		return fmt.Errorf("record the release: %w", err)
	}
	g.Note("record the release in %s", HistoryFile)
	g.Log("%s", r.Describe())
	d.released(r.ID)
	return nil
}

// released tells Config.OnRelease which release the host runs.
func (d *Host) released(id string) {
	if d.o.OnRelease != nil {
		d.o.OnRelease(id)
	}
}

// ReleaseFiles are the host paths a release consists of: the installed
// binaries, the sudoers rules and every rendered unit.
func (d *Host) ReleaseFiles() ([]string, error) {
	var paths []string
	for _, b := range Programs {
		paths = append(paths, b.Dest)
	}
	for _, e := range sudoers.EntryPoints(d.helperParams()) {
		paths = append(paths, e.Path)
	}
	paths = append(paths, hostpath.DeployTool, hostpath.SudoersFile)
	units, err := artifacts.Render(artifacts.Params{User: d.o.User, Group: d.o.Group, WebExec: d.o.WebExec})
	if err != nil {
		return nil, fmt.Errorf("render units: %w", err)
	}
	for _, u := range units {
		paths = append(paths, hostpath.UnitDir+"/"+u.Name)
	}
	return paths, nil
}

// installedFiles hashes every file of the release as installed now (a
// binary's checksum as the binaries step found or wrote it).
func (d *Host) installedFiles() (map[string]string, error) {
	paths, err := d.ReleaseFiles()
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, p := range paths {
		if sum, ok := d.binarySums[p]; ok {
			files[p] = sum
			continue
		}
		sum, err := release.FileSHA256(d.path(p))
		if err != nil {
			return nil, fmt.Errorf("checksum installed %s: %w", p, err)
		}
		files[p] = sum
	}
	return files, nil
}

// deployerBinary is the left4me-deploy kept with the release: the one in
// BinDir (the staged bundle on a remote deploy), else this program.
func (d *Host) deployerBinary() (string, error) {
	p := filepath.Join(d.o.BinDir, DeployBinary)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this program to keep with the release: %w", err)
	}
	return exe, nil
}

// keepRelease stores the release's files under ReleasesDir/ID (complete or
// absent: written to a temporary directory and renamed), then removes the
// kept releases beyond release.Kept.
func (d *Host) keepRelease(r release.Release, deployer string) error {
	base := d.path(ReleasesDir)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", ReleasesDir, err)
	}
	if err := os.Chmod(base, 0o700); err != nil {
		return err
	}
	dir := filepath.Join(base, r.ID)
	if kept, err := ReadKept(dir); err == nil && kept.ID == r.ID {
		// Kept already (a rollback to it, or a repaired hand edit).
	} else {
		tmp, err := os.MkdirTemp(base, ".tmp-")
		if err != nil {
			return fmt.Errorf("keep release %s: %w", r.ID, err)
		}
		defer os.RemoveAll(tmp)
		for p := range r.Files {
			if err := copyVerified(d.path(p), KeptPath(tmp, p), r.Files[p]); err != nil {
				return fmt.Errorf("keep release %s: %w", r.ID, err)
			}
		}
		// The installed left4me-deploy is the deployer, kept as bin/ with
		// the other binaries; a release from before it was installed on the
		// host keeps the deployer on its own.
		if sum, ok := r.Files[hostpath.DeployTool]; !ok {
			if err := copyVerified(deployer, filepath.Join(tmp, "bin", DeployBinary), r.Deployer); err != nil {
				return fmt.Errorf("keep release %s: %w", r.ID, err)
			}
		} else if sum != r.Deployer {
			return fmt.Errorf("keep release %s: the installed %s (sha256 %.12s) is not the installer that ran (%.12s)", r.ID, hostpath.DeployTool, sum, r.Deployer)
		}
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := writeSynced(filepath.Join(tmp, "release.json"), append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("keep release %s: %w", r.ID, err)
		}
		// Every file was fsynced as it was written; now the directories
		// that name them, then the rename that makes the release visible
		// and the directory that holds it.
		if err := syncTree(tmp); err != nil {
			return fmt.Errorf("keep release %s: %w", r.ID, err)
		}
		os.RemoveAll(dir) // an incomplete or foreign leftover
		if err := os.Rename(tmp, dir); err != nil {
			return fmt.Errorf("keep release %s: %w", r.ID, err)
		}
		if err := hostfile.SyncDir(base); err != nil {
			return fmt.Errorf("keep release %s: %w", r.ID, err)
		}
	}
	return d.pruneReleases(r)
}

// pruneReleases keeps the directories of the newest release.Kept distinct
// releases in the history (r included) and removes every other entry.
func (d *Host) pruneReleases(r release.Release) error {
	hist, err := release.ReadHistory(d.root)
	if err != nil {
		return err
	}
	keep := map[string]bool{r.ID: true}
	for i := len(hist) - 1; i >= 0 && len(keep) < release.Kept; i-- {
		keep[hist[i].ID] = true
	}
	base := d.path(ReleasesDir)
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(base, e.Name())); err != nil {
				return fmt.Errorf("remove old release %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// copyVerified copies src to dst (mode 0700: root's, and never run from
// there except by a rollback) and checks that what was copied has checksum
// want.
func copyVerified(src, dst, want string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s changed while it was copied (sha256 %s, want %s)", src, got[:12], want[:12])
	}
	return nil
}

// KeptPath is where a release directory keeps the file installed at
// hostPath: binaries flat in DIR/bin (a --bin-dir for the plan), every
// other file under DIR/files at its host path.
func KeptPath(dir, hostPath string) string {
	if hostPath == hostpath.DeployTool {
		return filepath.Join(dir, "bin", DeployBinary)
	}
	for _, b := range Programs {
		if b.Dest == hostPath {
			return filepath.Join(dir, "bin", b.Name)
		}
	}
	return filepath.Join(dir, "files", hostPath)
}

// ReadKept reads the record kept with a release directory.
func ReadKept(dir string) (release.Release, error) {
	var r release.Release
	b, err := os.ReadFile(filepath.Join(dir, "release.json"))
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(b, &r)
	return r, err
}

// writeSynced creates path with data and fsyncs it.
func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncTree fsyncs every directory under dir, deepest first, and dir.
func syncTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := hostfile.SyncDir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}
