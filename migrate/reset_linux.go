//go:build linux

package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
)

// workMode is the mode of a fresh work/ dir.
const workMode = 0o755

// resetWork leaves runtime/NAME/work an empty directory owned by o, 0755.
// It empties an existing one in place (fuse-overlayfs temp files, a kernel
// work/work), which converges when repeated after a crash.
func (m *migrator) resetWork(ir *InstanceReport, instFD int, instMnt uint64, name string, o ownerID) error {
	p := hostpath.Work(name)
	mk := func() error {
		if err := fsat.Mkdir(instFD, "work", workMode); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return fixDir(instFD, "work", o, workMode)
	}
	e, err := statAt(instFD, "work")
	switch {
	case errors.Is(err, unix.ENOENT):
		return m.do(ir, KindWork, plainPath(p), "created", mk)
	case err != nil:
		return pathErr("stat", p, err)
	case e.MountID != instMnt:
		return fmt.Errorf("%s is a mount point: refusing to replace it", p)
	case !e.IsDir():
		return m.do(ir, KindWork, plainPath(p), "replaced a "+typeName(e.Mode), func() error {
			if err := ignoreENOENT(fsat.Unlink(instFD, "work")); err != nil {
				return err
			}
			return mk()
		})
	}
	work, err := openDirHandle(instFD, "work", p)
	if err != nil {
		return pathErr("open", p, err)
	}
	names, err := readNames(work.FD())
	work.Close()
	if err != nil {
		return pathErr("read directory", p, err)
	}
	if len(names) == 0 && int(e.UID) == o.uid && int(e.GID) == o.gid && e.Mode&0o7777 == workMode {
		return nil
	}
	detail := fmt.Sprintf("emptied %d entries", len(names))
	return m.do(ir, KindWork, plainPath(p), detail, func() error {
		work, err := openDirHandle(instFD, "work", p)
		if err != nil {
			return err
		}
		defer work.Close()
		for _, n := range names {
			if err := removeAllAt(work.FD(), n, e.MountID); err != nil {
				return err
			}
		}
		return fixDir(instFD, "work", o, workMode)
	})
}

// fixDir sets the owner and mode of the directory name in dirfd.
func fixDir(dirfd int, name string, o ownerID, mode uint32) error {
	d, err := openDirHandle(dirfd, name, name)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := d.FD()
	if err := unix.Fchown(fd, o.uid, o.gid); err != nil {
		return err
	}
	return unix.Fchmod(fd, mode)
}

var asideRE = regexp.MustCompile(`^upper\.pre-kernel-overlay\.([1-9][0-9]{0,8})$`)

// resetUpper moves upper/ aside to upper.pre-kernel-overlay.N (the lowest
// N not taken) and puts a fresh empty upper/ in its place. N is journaled
// before the move, so a rerun after a crash completes this move instead of
// moving the fresh upper/ aside again.
func (m *migrator) resetUpper(ir *InstanceReport, instFD int, inst fsat.Entry, name string, o ownerID) error {
	aside, ok := m.journal.Reset[name]
	if !ok {
		if _, err := statAt(instFD, "upper"); errors.Is(err, unix.ENOENT) {
			ir.warn("%s has no upper/: nothing to move aside", hostpath.Instance(name))
			return nil
		}
		names, err := readNames(instFD)
		if err != nil {
			return pathErr("read directory", hostpath.Instance(name), err)
		}
		n := 1
		for _, x := range names {
			if mm := asideRE.FindStringSubmatch(x); mm != nil {
				if v, _ := strconv.Atoi(mm[1]); v >= n {
					n = v + 1
				}
			}
		}
		aside = AsidePrefix + strconv.Itoa(n)
		if err := m.step("journal "+aside, func() error {
			return m.journal.record(m.opts.Root.Join(JournalFile), name, aside)
		}); err != nil {
			return err
		}
	}
	ir.MovedAside = hostpath.Instance(name) + "/" + aside
	_, errUp := statAt(instFD, "upper")
	_, errAside := statAt(instFD, aside)
	upGone, asideGone := errors.Is(errUp, unix.ENOENT), errors.Is(errAside, unix.ENOENT)
	if !upGone && asideGone {
		if err := m.do(ir, KindUpperReset, plainPath(hostpath.Upper(name)), "moved to "+aside, func() error {
			return fsat.RenameNoReplace(instFD, "upper", instFD, aside)
		}); err != nil {
			return err
		}
		upGone = true
	}
	if upGone {
		return m.step("create fresh upper", func() error {
			if err := fsat.Mkdir(instFD, "upper", 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return err
			}
			return fixDir(instFD, "upper", o, 0o755)
		})
	}
	return nil
}

// journal is the on-disk record of --reset-upper's choices. The state dir
// belongs to the instance owner, so its content is checked like any input.
type journal struct {
	Reset map[string]string `json:"reset"`
}

func (j *journal) load(path string) error {
	j.Reset = map[string]string{}
	// Not through a final symlink, never blocking on a FIFO, regular files
	// only, and bounded: the directory is the instance owner's.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read migration journal: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("read migration journal %s: not a regular file (remove it if no --reset-upper run was interrupted)", path)
	}
	const maxJournal = 1 << 20
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return fmt.Errorf("read migration journal: %w", err)
	}
	if len(b) > maxJournal {
		return fmt.Errorf("read migration journal %s: larger than %d bytes (remove it if no --reset-upper run was interrupted)", path, maxJournal)
	}
	var in journal
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("read migration journal %s: %w (remove it if no --reset-upper run was interrupted)", path, err)
	}
	for name, aside := range in.Reset {
		if instance.ValidateName(name) != nil || !asideRE.MatchString(aside) {
			return fmt.Errorf("migration journal %s: bad entry %q: %q", path, name, aside)
		}
		j.Reset[name] = aside
	}
	return nil
}

func (j *journal) record(path, name, aside string) error {
	j.Reset[name] = aside
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, append(b, '\n'), 0o600)
}
