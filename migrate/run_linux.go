//go:build linux

package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/overlayclient"
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
	mounter overlayclient.Mounter
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
	run, err := openDirHandle(stFD, "runtime", runDir)
	if errors.Is(err, unix.ENOENT) {
		run = nil
	} else if err != nil {
		return rep, pathErr("open", runDir, err)
	} else {
		defer run.Close()
		if err := m.unmountStale(runDir); err != nil {
			return rep, err
		}
	}

	if err := m.journal.load(root.Join(JournalFile)); err != nil {
		return rep, err
	}

	var errs []error
	if run != nil {
		runFD := run.FD()
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

// instance converts (or with --reset-upper resets) one instance.
func (m *migrator) instance(runFD int, name string, owner *ownerID) (InstanceReport, error) {
	ir := InstanceReport{Name: name, Counts: map[Kind]int{}}
	hostInst := hostpath.Instance(name)
	instDir, err := openDirHandle(runFD, name, hostInst)
	if err != nil {
		return ir, pathErr("open", hostInst, err)
	}
	defer instDir.Close()
	instFD := instDir.FD()
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
		upper, err := openDirHandle(instFD, "upper", hostpath.Upper(name))
		if errors.Is(err, unix.ENOENT) {
			ir.warn("%s has no upper/: nothing to convert", hostInst)
			return ir, nil
		}
		if err != nil {
			return ir, pathErr("open", hostpath.Upper(name), err)
		}
		defer upper.Close()
		upFD := upper.FD()
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
