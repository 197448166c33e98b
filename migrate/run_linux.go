//go:build linux

package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/instance"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/overlay"
)

// migrator carries one run. The fields below opts are seams for tests.
type migrator struct {
	opts Options
	rep  *Report

	// host: stop and start units for real and give work/ to the left4me
	// user. True for the host root.
	host bool
	// mounter mounts a game server's overlay before its unit starts again.
	mounter overlay.Mounter
	// hostOwner looks up the left4me user and group.
	hostOwner func() (ownerID, error)
	// mountinfo is the file listing this namespace's mounts.
	mountinfo string
	// afterOp, when set, runs after each change; an error aborts the run
	// there, as a crash would.
	afterOp func(n int) error
	ops     atomic.Int64
	// beforeUnmount, when set, runs once after the mount table was read
	// and before the first unmount (to move a mount point then).
	beforeUnmount func()
	// workers is how many goroutines convert directories at once.
	workers int
	mu      sync.Mutex // guards the report while directories convert

	journal journal
}

func newMigrator(opts Options) *migrator {
	mnt := opts.Mounter
	if mnt == nil {
		mnt = kernelMounter{overlay.Config{Root: opts.Root}}
	}
	return &migrator{
		opts:      opts,
		host:      opts.Root.IsHost(),
		mounter:   mnt,
		hostOwner: lookupLeft4me,
		mountinfo: "/proc/self/mountinfo",
		workers:   8,
	}
}

// lookupLeft4me returns the uid of user left4me and the gid of group left4me.
func lookupLeft4me() (ownerID, error) {
	u, err := user.Lookup(hostpath.User)
	if err != nil {
		return ownerID{}, fmt.Errorf("look up user %s: %w", hostpath.User, err)
	}
	g, err := user.LookupGroup(hostpath.Group)
	if err != nil {
		return ownerID{}, fmt.Errorf("look up group %s: %w", hostpath.Group, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return ownerID{uid, gid}, nil
}

// do is the one gate for every change: it records the change in the report
// and, unless this is a dry run, makes it. path is rendered only if the
// report lists the change, or the change fails.
func (m *migrator) do(ir *InstanceReport, k Kind, path fmt.Stringer, detail string, apply func() error) error {
	m.mu.Lock()
	m.rep.record(ir, k, path, detail)
	m.mu.Unlock()
	if m.opts.DryRun {
		return nil
	}
	if err := apply(); err != nil {
		return fmt.Errorf("%s %s: %w", k, shorten(path.String()), err)
	}
	return m.tick()
}

// step makes a change that the report does not list on its own (journal,
// sentinel, the second half of a reset), through the same gate.
func (m *migrator) step(what string, apply func() error) error {
	if m.opts.DryRun {
		return nil
	}
	if err := apply(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return m.tick()
}

func (m *migrator) tick() error {
	n := m.ops.Add(1)
	if m.afterOp != nil {
		return m.afterOp(int(n))
	}
	return nil
}

func (m *migrator) run(ctx context.Context) (*Report, error) {
	root := m.opts.Root
	m.rep = &Report{DryRun: m.opts.DryRun, Instances: []InstanceReport{}}
	if !root.IsHost() {
		m.rep.Root = string(root)
	}
	rep := m.rep

	if _, err := os.Lstat(root.Join(hostpath.Sentinel)); err == nil {
		rep.Skipped = true
		// A run killed between writing the sentinel and removing its
		// journal leaves the journal behind; it is only ours, and stale.
		if !m.opts.DryRun {
			if err := ignoreENOENT(os.Remove(root.Join(JournalFile))); err != nil {
				return rep, fmt.Errorf("remove stale migration journal: %w", err)
			}
		}
		return rep, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("check migration sentinel: %w", err)
	}

	stateDir := root.Join(hostpath.StateDir)
	st, err := fsat.OpenTrusted(stateDir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return rep, fmt.Errorf("open state dir (install left4me first, or point --root at a left4me tree): %w", err)
	}
	defer st.Close()
	stFD := st.FD()
	stSelf, err := statSelf(stFD)
	if err != nil {
		return rep, pathErr("stat", stateDir, err)
	}
	var owner *ownerID // nil: the owner of each runtime/NAME (--root)
	sentinelOwner := ownerID{int(stSelf.UID), int(stSelf.GID)}
	if m.host {
		o, err := m.hostOwner()
		if err != nil {
			return rep, err
		}
		owner, sentinelOwner = &o, o
	}

	// Remember and stop the units before anything else: the web service
	// holds the fuse-overlayfs mounts in its own mount namespace.
	servers, webActive, err := m.stopServices(ctx)
	if err != nil {
		return rep, err
	}
	rep, err = m.convertAll(stFD, owner)
	if err != nil {
		if m.rep.Services.Made {
			err = fmt.Errorf("%w (units left stopped; run the migration again to finish)", err)
		}
		return rep, err
	}

	if err := m.step("write sentinel", func() error {
		return writeOwned(root.Join(hostpath.Sentinel), []byte("converted to kernel overlayfs\n"), 0o644, sentinelOwner)
	}); err != nil {
		return rep, err
	}
	if err := m.step("remove journal", func() error { return ignoreENOENT(os.Remove(root.Join(JournalFile))) }); err != nil {
		return rep, err
	}
	var hookErr error
	if m.opts.BeforeStart != nil && !m.opts.DryRun {
		if hookErr = m.opts.BeforeStart(ctx); hookErr != nil {
			m.logf("warning: %v", hookErr)
		}
	}
	if err := m.startServices(ctx, servers, webActive); err != nil {
		return rep, errors.Join(err, hookErr)
	}
	return rep, hookErr
}

// convertAll unmounts what is mounted under runtime/, converts every
// instance and keeps the report.
func (m *migrator) convertAll(stFD int, owner *ownerID) (*Report, error) {
	rep, root := m.rep, m.opts.Root

	runDir := root.Join(hostpath.RuntimeDir)
	runFD, err := openDirAt(stFD, "runtime")
	if errors.Is(err, unix.ENOENT) {
		runFD = -1
	} else if err != nil {
		return rep, pathErr("open", runDir, err)
	} else {
		defer unix.Close(runFD)
		if err := m.unmountStale(runDir); err != nil {
			return rep, err
		}
	}

	if err := m.journal.load(root.Join(JournalFile)); err != nil {
		return rep, err
	}

	var errs []error
	if runFD >= 0 {
		names, err := readNames(runFD)
		if err != nil {
			return rep, pathErr("read directory", runDir, err)
		}
		for _, name := range names {
			if err := instance.ValidateName(name); err != nil {
				m.logf("skipping %s: not an instance name", textsafe.Quote(hostpath.RuntimeDir+"/"+name))
				continue
			}
			e, err := statAt(runFD, name)
			if err != nil || !e.IsDir() {
				continue
			}
			ir, err := m.instance(runFD, name, owner)
			rep.Instances = append(rep.Instances, ir)
			if err != nil {
				errs = append(errs, fmt.Errorf("instance %s: %w", name, err))
				if errors.Is(err, errAborted) {
					break
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		rep.Error = err.Error()
		m.keepReport()
		return rep, err
	}
	rep.Sentinel = true
	return rep, m.keepReport()
}

// errAborted marks the test hook's simulated crash.
var errAborted = errors.New("migration aborted")

// stopServices remembers the active game servers and the web unit and stops
// them, or only reports that with --root or --dry-run.
func (m *migrator) stopServices(ctx context.Context) (servers []string, webActive bool, err error) {
	s := &m.rep.Services
	if !m.host {
		s.Note = "--root: service stops and starts are reported, not made"
		s.Stop = []string{"active " + ServerUnitGlob, hostpath.WebUnit}
		s.Start = []string{hostpath.WebUnit + " (if it was active)", "the " + ServerUnitGlob + " that were active, each after mounting its overlay"}
		return nil, false, nil
	}
	svc := m.opts.Services
	if svc == nil {
		return nil, false, errors.New("migrate: no service manager given")
	}
	if servers, err = svc.ListActive(ctx, ServerUnitGlob); err != nil {
		return nil, false, fmt.Errorf("list active game servers: %w", err)
	}
	if webActive, err = svc.IsActive(ctx, hostpath.WebUnit); err != nil {
		return nil, false, fmt.Errorf("check %s: %w", hostpath.WebUnit, err)
	}
	s.Stop = append(append([]string{}, servers...), hostpath.WebUnit)
	if webActive {
		s.Start = append(s.Start, hostpath.WebUnit)
	}
	s.Start = append(s.Start, servers...)
	for _, u := range servers {
		if name, err := serverInstance(u); err == nil {
			s.Mount = append(s.Mount, name)
		}
	}
	if m.opts.DryRun {
		return servers, webActive, nil
	}
	s.Made = true
	m.logf("stopping %s", strings.Join(s.Stop, " "))
	if err := svc.Stop(ctx, s.Stop...); err != nil {
		return nil, false, fmt.Errorf("stop units before migrating: %w", err)
	}
	return servers, webActive, nil
}

// startServices starts again what stopServices stopped: the web unit, then
// each game server after mounting its overlay, because the server unit
// asserts that its merged dir is a mount point. One unit failing does not
// keep the others down; the error names every unit that did not come back,
// and so does the kept report.
func (m *migrator) startServices(ctx context.Context, servers []string, webActive bool) error {
	if !m.host || m.opts.DryRun || len(m.rep.Services.Start) == 0 {
		return nil
	}
	s := &m.rep.Services
	m.logf("starting %s", strings.Join(s.Start, " "))
	var errs *multierror.Error
	fail := func(unit string, err error) {
		s.Failed = append(s.Failed, UnitFailure{Unit: unit, Error: err.Error()})
		errs = multierror.Append(errs, fmt.Errorf("%s: %w", unit, err))
	}
	if webActive {
		if err := m.opts.Services.Restart(ctx, hostpath.WebUnit); err != nil {
			fail(hostpath.WebUnit, fmt.Errorf("restart: %w", err))
		}
	}
	for _, unit := range servers {
		if err := m.startServer(ctx, unit); err != nil {
			fail(unit, err)
		}
	}
	if errs.ErrorOrNil() == nil {
		return nil
	}
	errs.ErrorFormat = func(es []error) string {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Error()
		}
		return fmt.Sprintf("the conversion is done, but %d unit(s) did not come back: %s (once fixed, start a game server with l4d2ctl start NAME)",
			len(es), strings.Join(parts, "; "))
	}
	err := errs.ErrorOrNil()
	if kerr := m.keepReport(); kerr != nil {
		return fmt.Errorf("%w; %v", err, kerr)
	}
	return err
}

// startServer mounts the overlay of game-server unit's instance and starts
// the unit. If the start fails it takes the overlay down again, as l4d2ctl
// start does, so no mount stays behind without its server.
func (m *migrator) startServer(ctx context.Context, unit string) error {
	name, err := serverInstance(unit)
	if err != nil {
		return err
	}
	m.logf("mounting the overlay of %s", name)
	if err := m.mounter.Mount(ctx, name); err != nil {
		return fmt.Errorf("mount its overlay: %w", err)
	}
	if err := m.opts.Services.Start(ctx, unit); err != nil {
		if uerr := m.mounter.Unmount(ctx, name); uerr != nil {
			return fmt.Errorf("start: %w; taking its overlay down again failed too, so it may still be mounted at %s: %v", err, hostpath.Merged(name), uerr)
		}
		return fmt.Errorf("start: %w (its overlay was taken down again)", err)
	}
	return nil
}

// serverInstance returns the instance name of game-server unit
// left4me-server@NAME.service, checked with the one name rule.
func serverInstance(unit string) (string, error) {
	name, ok := strings.CutPrefix(unit, "left4me-server@")
	if ok {
		name, ok = strings.CutSuffix(name, ".service")
	}
	if !ok {
		return "", fmt.Errorf("%q is not a %s unit", unit, ServerUnitGlob)
	}
	if err := instance.ValidateName(name); err != nil {
		return "", fmt.Errorf("not a valid instance unit: %w", err)
	}
	return name, nil
}

// kernelMounter mounts as left4me-overlay does, in this process: it enters
// the mount namespace of cfg (PID 1's by default) on a thread of its own.
type kernelMounter struct{ cfg overlay.Config }

func (k kernelMounter) Mount(_ context.Context, name string) error {
	_, err := k.cfg.Mount(name)
	return err
}

func (k kernelMounter) Unmount(_ context.Context, name string) error {
	_, err := k.cfg.Unmount(name)
	return err
}

// unmountStale takes down every fuse-overlayfs and overlay mount under
// runtime/ (for real also with --root; only listed in a dry run).
//
// Mounts are found in the mount table and then followed by mount id: the
// owner of the tree can rename a mount point (or a directory above it)
// at any time, from a mount namespace of its own even the mount point
// itself. Each unmount checks through a pinned parent that the name is
// still the root of that mount (unmountMount); when it is not, the table
// is read again and the mount is unmounted where it is now. A mount that
// left the table meanwhile is gone and needs nothing more. One mount that
// cannot be taken down does not keep the others up.
func (m *migrator) unmountStale(runDir string) error {
	table, err := m.readMounts()
	if err != nil {
		return err
	}
	pending := staleMounts(table, runDir)
	var errs []error
	for pass := 0; len(pending) > 0; pass++ {
		if m.beforeUnmount != nil && pass == 0 {
			m.beforeUnmount()
		}
		var moved []mountinfo.Entry
		for _, mi := range pending {
			hp, _ := m.opts.Root.HostPath(mi.MountPoint)
			u := Unmount{Path: hp, FSType: mi.FSType}
			if !m.opts.DryRun {
				m.logf("unmounting %s %s", mi.FSType, textsafe.Quote(hp))
				lazy, err := unmountMount(mi)
				if errors.Is(err, errMoved) {
					moved = append(moved, mi)
					continue
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if lazy {
					u.Lazy = true
					m.logf("warning: %s stayed busy and was detached lazily (MNT_DETACH); processes may still hold it", textsafe.Quote(hp))
				}
			}
			m.rep.Unmounts = append(m.rep.Unmounts, u)
		}
		if len(moved) == 0 {
			break
		}
		if table, err = m.readMounts(); err != nil {
			return err
		}
		pending = pending[:0]
		for _, mi := range moved {
			cur, ok := sameMount(table, mi)
			if !ok {
				continue // unmounted or detached meanwhile
			}
			if pass >= movedRetries {
				errs = append(errs, fmt.Errorf("unmount %s %d at %s: it is not at the mount point the mount table gives (moved %d times while unmounting)", mi.FSType, mi.ID, mi.MountPoint, pass+1))
				continue
			}
			pending = append(pending, cur)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("take down stale mounts: %w", err)
	}
	return nil
}

// readMounts reads this namespace's mount table.
func (m *migrator) readMounts() ([]mountinfo.Entry, error) {
	table, err := mountinfo.ReadFile(m.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	return table, nil
}

// instance converts (or with --reset-upper resets) one instance.
func (m *migrator) instance(runFD int, name string, owner *ownerID) (InstanceReport, error) {
	ir := InstanceReport{Name: name, Counts: map[Kind]int{}}
	hostInst := hostpath.Instance(name)
	instFD, err := openDirAt(runFD, name)
	if err != nil {
		return ir, pathErr("open", hostInst, err)
	}
	defer unix.Close(instFD)
	inst, err := statSelf(instFD)
	if err != nil {
		return ir, pathErr("stat", hostInst, err)
	}
	o := ownerID{int(inst.UID), int(inst.GID)}
	if owner != nil {
		o = *owner
	}
	m.logf("instance %s", name)

	if m.opts.ResetUpper {
		if err := m.resetUpper(&ir, instFD, inst, name, o); err != nil {
			return ir, err
		}
	} else {
		upFD, err := openDirAt(instFD, "upper")
		if errors.Is(err, unix.ENOENT) {
			ir.warn("%s has no upper/: nothing to convert", hostInst)
			return ir, nil
		}
		if err != nil {
			return ir, pathErr("open", hostpath.Upper(name), err)
		}
		defer unix.Close(upFD)
		up, err := statSelf(upFD)
		if err != nil {
			return ir, pathErr("stat", hostpath.Upper(name), err)
		}
		w := &upperWalk{ir: &ir, host: hostpath.Upper(name), owner: ownerID{int(up.UID), int(up.GID)}, mntID: up.MountID}
		err = m.walk(w, upFD, up)
		// Helpers finish in any order; list the changes by path.
		sort.SliceStable(ir.Changes, func(i, j int) bool { return ir.Changes[i].Path < ir.Changes[j].Path })
		sort.Strings(ir.Warnings)
		if err != nil {
			return ir, err
		}
	}
	return ir, m.resetWork(&ir, instFD, inst.MountID, name, o)
}

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
	fd, err := openDirAt(instFD, "work")
	if err != nil {
		return pathErr("open", p, err)
	}
	names, err := readNames(fd)
	unix.Close(fd)
	if err != nil {
		return pathErr("read directory", p, err)
	}
	if len(names) == 0 && int(e.UID) == o.uid && int(e.GID) == o.gid && e.Mode&0o7777 == workMode {
		return nil
	}
	detail := fmt.Sprintf("emptied %d entries", len(names))
	return m.do(ir, KindWork, plainPath(p), detail, func() error {
		fd, err := openDirAt(instFD, "work")
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, n := range names {
			if err := removeAllAt(fd, n, e.MountID); err != nil {
				return err
			}
		}
		return fixDir(instFD, "work", o, workMode)
	})
}

// fixDir sets the owner and mode of the directory name in dirfd.
func fixDir(dirfd int, name string, o ownerID, mode uint32) error {
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
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

// keepReport writes the report to ReportFile, atomically, unless dry run.
func (m *migrator) keepReport() error {
	if m.opts.DryRun {
		return nil
	}
	m.rep.ReportFile = ReportFile
	b, err := m.rep.JSON()
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(m.opts.Root.Join(ReportFile), b, 0o644); err != nil {
		return fmt.Errorf("keep migration report: %w", err)
	}
	return nil
}

// writeOwned writes path atomically with the given owner.
func writeOwned(path string, data []byte, mode os.FileMode, o ownerID) error {
	t, err := renameio.TempFile("", path)
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if _, err := t.Write(data); err != nil {
		return err
	}
	if err := t.Chmod(mode); err != nil {
		return err
	}
	if err := t.Chown(o.uid, o.gid); err != nil {
		return err
	}
	return t.CloseAtomicallyReplace()
}
