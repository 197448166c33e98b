//go:build linux

package migrate

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
)

// The names and xattrs of the fuse-overlayfs format (docs/design.md §4).
const (
	whPrefix       = ".wh."
	markerOpaque   = ".wh..wh..opq" // empty file fuse-overlayfs writes into every opaque dir
	markerOpq      = ".wh..opq"     // char 0/0 fuse-overlayfs leaves next to it
	xattrFusePref  = "user.fuseoverlayfs."
	xattrFuseOpq   = "user.fuseoverlayfs.opaque"
	xattrFuseStat  = "user.fuseoverlayfs.override_stat"
	xattrContStat  = "user.containers.override_stat"
	xattrKernelOpq = "trusted.overlay.opaque"
)

// ownerID is a numeric owner.
type ownerID struct{ uid, gid int }

// upperWalk is the state of converting one upper dir. Directories are
// converted by a pool of m.workers goroutines: the work is metadata writes
// that wait on the filesystem more than on the CPU. Each worker owns its OS
// thread with a private working directory (unshare(CLONE_FS)), changes into
// the directory it converts through the pinned fd, and names entries
// relative to it: race-free like the fd-relative *at calls, and cheaper
// than reaching each entry through /proc/self/fd.
type upperWalk struct {
	ir    *InstanceReport
	host  string // host path of upper/, for the report
	owner ownerID
	mntID uint64 // the upper's mount: the walk never leaves it

	jobs    chan dirJob
	pending sync.WaitGroup
	failed  atomic.Bool
	once    sync.Once
	err     error
}

// dirJob is one directory handed to an idle worker, which closes fd.
type dirJob struct {
	fd   int
	rel  *relPath
	self fsat.Entry
}

func (w *upperWalk) fail(err error) {
	if err == nil || errors.Is(err, errStopped) {
		return
	}
	w.once.Do(func() { w.err = err })
	w.failed.Store(true)
}

// errStopped ends a directory early once another one failed.
var errStopped = errors.New("stopped")

// walk converts the whole upper dir open at fd (which stays open) and
// returns once every worker is done.
func (m *migrator) walk(w *upperWalk, fd int, self fsat.Entry) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return pathErr("dup", w.host, err)
	}
	w.jobs = make(chan dirJob)
	var workers sync.WaitGroup
	for i := 0; i < max(m.workers, 1); i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			m.worker(w)
		}()
	}
	w.pending.Add(1)
	w.jobs <- dirJob{fd: dup, self: self}
	w.pending.Wait()
	close(w.jobs)
	workers.Wait()
	return w.err
}

// worker converts the directories it is handed on a thread of its own.
// The thread is never unlocked: with its private working directory it must
// not run other goroutines, so it ends with the worker.
func (m *migrator) worker(w *upperWalk) {
	runtime.LockOSThread()
	err := unix.Unshare(unix.CLONE_FS)
	for job := range w.jobs {
		if err != nil {
			w.fail(fmt.Errorf("unshare the working directory of a walk thread: %w", err))
		} else if !w.failed.Load() {
			w.fail(m.convertDir(w, job.fd, job.rel, job.self))
		}
		unix.Close(job.fd)
		w.pending.Done()
	}
}

// warn records a warning; paths among args are entryPaths, rendered only
// if the warning is listed.
func (m *migrator) warn(w *upperWalk, format string, args ...any) {
	m.mu.Lock()
	m.rep.warn(w.ir, format, args...)
	m.mu.Unlock()
}

// at names entry name of directory dir (name "" for dir itself).
func (w *upperWalk) at(dir *relPath, name string) entryPath {
	return entryPath{host: w.host, dir: dir, name: name}
}

// convertDir converts the directory open at dfd (rel inside upper) and
// everything below it.
//
// The order of operations is what makes a rerun after a crash converge:
// opacity is recorded in trusted.overlay.opaque before either fuse marker
// of it (user.fuseoverlayfs.opaque, .wh..wh..opq) is removed, a fallback
// whiteout's 0/0 device is made before its .wh.NAME file is removed, and an
// override_stat is applied before its xattr is removed. Every step reads
// the current state first, so repeating a finished step changes nothing.
func (m *migrator) convertDir(w *upperWalk, dfd int, rel *relPath, self fsat.Entry) error {
	here := w.at(rel, "")
	if err := unix.Fchdir(dfd); err != nil {
		return pathErr("change into", here.String(), err)
	}
	names, err := readNames(dfd)
	if err != nil {
		return pathErr("read directory", here.String(), err)
	}
	dir := xattrTarget{fd: dfd, dirfd: -1}
	xattrs, err := dir.list()
	if err != nil {
		return pathErr("list xattrs", here.String(), err)
	}

	opaque := false
	for _, x := range xattrs {
		if x != xattrFuseOpq {
			continue
		}
		if v, ok, err := dir.get(xattrFuseOpq); err != nil {
			return pathErr("read xattr "+xattrFuseOpq, here.String(), err)
		} else if ok && string(v) == "y" {
			opaque = true
		}
	}
	for _, n := range names {
		if n == markerOpaque {
			if e, err := statAt(dfd, n); err == nil && !e.IsDir() {
				opaque = true
			}
		}
	}
	// The kernel's own mark counts too: a rerun after a crash finds it
	// where the fuse markers are already gone.
	v, kernelOpaque, err := dir.get(xattrKernelOpq)
	if err != nil {
		return pathErr("read xattr "+xattrKernelOpq, here.String(), err)
	}
	kernelOpaque = kernelOpaque && string(v) == "y"
	if opaque && !kernelOpaque {
		if err := m.do(w.ir, KindOpaque, here, xattrKernelOpq+"=y", func() error {
			return dir.set(xattrKernelOpq, []byte("y"))
		}); err != nil {
			return err
		}
	}
	// The upper's root is never opaque to the kernel: its whiteouts stay,
	// whatever marks the owner put on it.
	opaque = (opaque || kernelOpaque) && rel != nil
	if err := m.convertXattrs(w, dir, here, self, xattrs); err != nil {
		return err
	}

	for _, n := range names {
		if w.failed.Load() {
			return errStopped
		}
		if err := m.convertEntry(w, dfd, rel, n, opaque); err != nil {
			return err
		}
	}
	return nil
}

// convertEntry converts one entry of the directory dfd; opaque says that
// the directory is opaque (its trusted.overlay.opaque is set by now).
func (m *migrator) convertEntry(w *upperWalk, dfd int, rel *relPath, n string, opaque bool) error {
	p := w.at(rel, n)
	e, err := statAt(dfd, n)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return pathErr("stat", p.String(), err)
	}
	if e.MountID != w.mntID {
		m.warn(w, "%s is a mount point: left alone", p)
		return nil
	}
	unlink := func() error { return ignoreENOENT(fsat.Unlink(dfd, n)) }
	isMarkerFile := e.IsReg() || e.IsWhiteout()

	switch {
	case (n == markerOpaque || n == markerOpq) && isMarkerFile:
		// convertDir made the directory opaque before we got here.
		return m.do(w.ir, KindMarker, p, "", unlink)

	case strings.HasPrefix(n, whPrefix) && isMarkerFile:
		target := n[len(whPrefix):]
		if target == "" || strings.HasPrefix(target, whPrefix) {
			// fuse-overlayfs hides every .wh. name, and a whiteout made
			// for one would read as a marker on the next run.
			m.warn(w, "%s: whiteout of a name fuse-overlayfs never shows: left alone", p)
			return nil
		}
		if opaque {
			// Nothing below an opaque directory needs hiding.
			return m.do(w.ir, KindMarker, p, "", unlink)
		}
		_, err := statAt(dfd, target)
		switch {
		case errors.Is(err, unix.ENOENT):
			if err := m.do(w.ir, KindWhiteout, w.at(rel, target), "from "+n, func() error {
				err := fsat.MkWhiteout(dfd, target)
				if errors.Is(err, unix.EEXIST) {
					return nil
				}
				return err
			}); err != nil {
				return err
			}
		case err != nil:
			return pathErr("stat", w.at(rel, target).String(), err)
		}
		// NAME exists now: either the whiteout just made, or an entry that
		// fuse-overlayfs showed in place of the stale .wh.NAME anyway.
		return m.do(w.ir, KindMarker, p, "", unlink)

	case strings.HasPrefix(n, whPrefix):
		m.warn(w, "%s: a %s named like a whiteout: left alone", p, typeName(e.Mode))
		return nil

	case opaque && e.IsWhiteout():
		// It hides nothing (the opacity does), and kernel overlayfs would
		// list it as a name that cannot be looked up. The directory's
		// opacity was recorded before we got here.
		return m.do(w.ir, KindOpaqueWhiteout, p, "", unlink)

	case e.IsDir():
		cfd, err := openDirAt(dfd, n)
		if errors.Is(err, unix.EXDEV) {
			m.warn(w, "%s is a mount point: left alone", p)
			return nil
		}
		if err != nil {
			return pathErr("open directory", p.String(), err)
		}
		self, err := statSelf(cfd)
		if err != nil {
			unix.Close(cfd)
			return pathErr("stat", p.String(), err)
		}
		if self.MountID != w.mntID {
			unix.Close(cfd)
			m.warn(w, "%s is a mount point: left alone", p)
			return nil
		}
		// Hand the directory to an idle worker, or convert it here.
		w.pending.Add(1)
		select {
		case w.jobs <- dirJob{fd: cfd, rel: rel.child(n), self: self}:
			return nil
		default:
			w.pending.Done()
		}
		err = m.convertDir(w, cfd, rel.child(n), self)
		unix.Close(cfd)
		if err != nil {
			return err
		}
		// Back into this directory for the entries that follow.
		if err := unix.Fchdir(dfd); err != nil {
			return pathErr("change into", w.at(rel, "").String(), err)
		}
		return nil

	default:
		t := xattrTarget{fd: -1, dirfd: dfd, name: n, cwd: true}
		xattrs, err := t.list()
		if err != nil {
			return pathErr("list xattrs", p.String(), err)
		}
		return m.convertXattrs(w, t, p, e, xattrs)
	}
}

// convertXattrs applies and removes the fuse-overlayfs xattrs of one entry.
func (m *migrator) convertXattrs(w *upperWalk, t xattrTarget, p entryPath, e fsat.Entry, xattrs []string) error {
	has := map[string]bool{}
	fuse := false
	for _, x := range xattrs {
		has[x] = true
		if strings.HasPrefix(x, xattrFusePref) || x == xattrContStat {
			fuse = true
		}
	}
	if !fuse {
		return nil
	}
	remove := func(x, detail string) error {
		return m.do(w.ir, KindXattr, p, x+detail, func() error { return t.remove(x) })
	}

	// fuse-overlayfs's own override_stat wins over the containers one: drop
	// the loser first, so a rerun after a crash can only see the winner.
	stat := ""
	switch {
	case has[xattrFuseStat]:
		stat = xattrFuseStat
		if has[xattrContStat] {
			if err := remove(xattrContStat, " (shadowed by "+xattrFuseStat+")"); err != nil {
				return err
			}
		}
	case has[xattrContStat]:
		stat = xattrContStat
	}
	if stat != "" {
		v, ok, err := t.get(stat)
		if err != nil {
			return pathErr("read xattr "+stat, p.String(), err)
		}
		if ok {
			if err := m.applyOverride(w, t, p, e, stat, string(v)); err != nil {
				return err
			}
		}
		if err := remove(stat, ""); err != nil {
			return err
		}
	}
	for _, x := range xattrs {
		if strings.HasPrefix(x, xattrFusePref) && x != xattrFuseStat {
			if err := remove(x, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// override is a parsed override_stat value "uid:gid:mode[:type]".
type override struct {
	uid, gid int
	mode     uint32
	typ      string
}

func parseOverride(v string) (override, error) {
	f := strings.Split(strings.TrimRight(v, "\x00"), ":")
	if len(f) != 3 && len(f) != 4 {
		return override{}, fmt.Errorf("want uid:gid:mode[:type], got %q", v)
	}
	uid, err1 := strconv.ParseUint(f[0], 10, 32)
	gid, err2 := strconv.ParseUint(f[1], 10, 32)
	mode, err3 := strconv.ParseUint(f[2], 8, 32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return override{}, fmt.Errorf("bad override_stat %q: %w", v, err)
	}
	o := override{uid: int(uid), gid: int(gid), mode: uint32(mode) & 0o7777}
	if len(f) == 4 {
		o.typ = f[3]
	}
	return o, nil
}

// typeName is the override_stat spelling of a file type.
func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "pipe"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "char"
	case unix.S_IFBLK:
		return "block"
	}
	return "unknown"
}

// applyOverride gives the entry the owner and mode fuse-overlayfs showed for
// it. The value is attacker-controlled (the instance owner can set user
// xattrs), so: set-id bits are never applied, the type is never changed
// (no device nodes from a user xattr), the owner may only become the
// instance owner (fuse-overlayfs ran as that user, so nothing else is
// legitimate), and only an entry that belongs to the instance owner is
// changed, checked again on the pinned inode right before the change, so a
// hardlink to someone else's file swapped in cannot be handed around.
func (m *migrator) applyOverride(w *upperWalk, t xattrTarget, p entryPath, e fsat.Entry, key, v string) error {
	o, err := parseOverride(v)
	if err != nil {
		m.warn(w, "%s: %s not applied: %v", p, key, err)
		return nil
	}
	if o.typ != "" {
		base, _, _ := strings.Cut(o.typ, "-")
		if base != typeName(e.Mode) {
			m.warn(w, "%s: %s type %q not applied (the entry is a %s)", p, key, o.typ, typeName(e.Mode))
		}
	}
	if o.mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		m.warn(w, "%s: %s set-id bits %04o not applied", p, key, o.mode&(unix.S_ISUID|unix.S_ISGID))
		o.mode &^= unix.S_ISUID | unix.S_ISGID
	}
	if o.uid != w.owner.uid || o.gid != w.owner.gid {
		m.warn(w, "%s: %s names owner %d:%d, not the instance owner %d:%d: not applied", p, key, o.uid, o.gid, w.owner.uid, w.owner.gid)
		return nil
	}
	if int(e.UID) != w.owner.uid {
		m.warn(w, "%s: owned by uid %d, not the instance owner: %s not applied", p, e.UID, key)
		return nil
	}
	perm := e.Mode & 0o7777
	if e.IsLink() {
		perm = o.mode // a symlink's mode cannot change and does not matter
	}
	if int(e.UID) == o.uid && int(e.GID) == o.gid && perm == o.mode {
		return nil
	}
	detail := fmt.Sprintf("%d:%d %04o -> %d:%d %04o", e.UID, e.GID, e.Mode&0o7777, o.uid, o.gid, o.mode)
	return m.do(w.ir, KindOwner, p, detail, func() error {
		return t.chownChmod(w.owner.uid, o.uid, o.gid, o.mode)
	})
}
