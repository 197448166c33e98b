//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/hostpath"
	"github.com/left4me/left4me-deploy/instance"
	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/mountinfo"
)

// Errors the helper's callers may test for.
var (
	// ErrFuseFormat: the upper dir still carries fuse-overlayfs metadata.
	ErrFuseFormat = errors.New("upper dir is still in fuse-overlayfs format")
	// ErrForeignMount: something at merged is not an overlay this helper made.
	ErrForeignMount = errors.New("not an overlay left4me-overlay mounted")
	// ErrMoved: the instance's directories moved while the helper worked.
	ErrMoved = errors.New("instance directory changed during the operation")
	// ErrNotMigrated: the host's migration to the kernel format has not run.
	ErrNotMigrated = errors.New("not migrated to kernel overlayfs yet")
	// ErrBusy: another process held the instance's lock for LockWait.
	ErrBusy = errors.New("instance busy")
)

// LockWait bounds how long the helper waits for another helper's lock on
// the same instance directory before it gives up with ErrBusy.
const LockWait = 5 * time.Second

// Result says what Mount or Unmount did.
type Result struct {
	Changed bool   // a mount was made or removed
	Message string // one line for the operator
	Plan    *Plan  // set in print-only mode
}

// Mount mounts the overlay of instance name at runtime/NAME/merged in the
// configured mount namespace. An overlay this helper made that is already
// mounted there is success without a change.
func (c Config) Mount(name string) (Result, error) {
	return c.run(name, "mount", (*session).mount)
}

// Unmount unmounts the overlay of instance name from runtime/NAME/merged. An
// instance that is not mounted is success without a change; anything mounted
// there that this helper did not make is refused.
func (c Config) Unmount(name string) (Result, error) {
	return c.run(name, "umount", (*session).unmount)
}

func (c Config) run(name, verb string, fn func(*session, string) (Result, error)) (Result, error) {
	if err := instance.ValidateName(name); err != nil {
		return Result{}, err
	}
	method, err := c.method()
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", verb, name, err)
	}
	type out struct {
		res Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		// The goroutine keeps its OS thread locked until it returns, so the
		// Go runtime terminates that thread instead of reusing it: the
		// namespace and cwd changes below die with it and no other goroutine
		// ever runs in them.
		runtime.LockOSThread()
		s := &session{cfg: c, method: method, root: -1, tree: -1, state: -1}
		var res Result
		err := s.enter()
		if err == nil {
			res, err = fn(s, name)
		}
		// Close before answering: the handle on a fresh mount would keep it
		// busy for a caller that unmounts at once, and the lock is released.
		s.closeAll()
		ch <- out{res, err}
	}()
	o := <-ch
	if o.err != nil {
		return o.res, fmt.Errorf("%s %s: %w", verb, name, o.err)
	}
	return o.res, nil
}

// session is one helper run on its own locked OS thread. Every fd it opens
// is closed when it ends.
type session struct {
	cfg      Config
	method   Method
	root     int // "/" of the target namespace
	tree     int // Config.Root in the target namespace (== root on the host)
	state    int // the state root, /var/lib/left4me
	stateUID uint32
	fds      []int
}

func (s *session) keep(fd int) int { s.fds = append(s.fds, fd); return fd }

// closeAll closes the session's fds, newest first: the instance lock,
// taken early, is released only once every handle on the instance and its
// mount is gone, so the next holder never finds the mount busy with them.
func (s *session) closeAll() {
	for i := len(s.fds) - 1; i >= 0; i-- {
		unix.Close(s.fds[i])
	}
	s.fds = nil
}

func (s *session) host(rel string) string { return hostpath.StateDir + "/" + rel }

// enter unshares the thread's fs attributes (setns into a mount namespace
// requires it, and it keeps fchdir private to this thread), enters the
// target namespace, and only then opens the tree: every path is resolved in
// the namespace the mount lands in.
func (s *session) enter() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare(CLONE_FS): %w", err)
	}
	ns := s.cfg.MountNS
	if ns == "" {
		ns = DefaultMountNS
	}
	if ns != CurrentMountNS {
		fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open mount namespace %s: %w (the helper runs as root, through sudo)", ns, err)
		}
		err = unix.Setns(fd, unix.CLONE_NEWNS)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("enter mount namespace %s: %w (needs root with CAP_SYS_ADMIN and CAP_SYS_CHROOT: run it through sudo, from a unit without NoNewPrivileges= or a narrowed CapabilityBoundingSet=)", ns, err)
		}
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	s.root = s.keep(fd)
	s.tree = s.root
	if !s.cfg.Root.IsHost() {
		// The test root itself is trusted (it is only honoured outside sudo).
		fd, err := unix.Open(string(s.cfg.Root), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s %s: %w", EnvRoot, s.cfg.Root, err)
		}
		s.tree = s.keep(fd)
	}
	s.state, err = s.openDir(s.tree, strings.TrimPrefix(hostpath.StateDir, "/"), hostpath.StateDir)
	if err != nil {
		return err
	}
	// The whole hostile tree must be on one mount of a local file system:
	// the state root's type is checked here (without calling into it, so a
	// FUSE file system mounted over it by its owner cannot hold the helper),
	// and every lookup below it refuses to cross a mount (RESOLVE_NO_XDEV).
	if err := fsat.CheckLocalFS(s.state, hostpath.StateDir, "state root"); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(s.state, &st); err != nil {
		return fmt.Errorf("stat %s: %w", hostpath.StateDir, err)
	}
	s.stateUID = st.Uid
	return nil
}

// openDir opens rel below dirfd as an O_PATH directory handle without
// following any symlink; host names the path in messages.
func (s *session) openDir(dirfd int, rel, host string) (int, error) {
	return s.openDirFlags(dirfd, rel, host, 0)
}

// openDirXdev is openDir that also refuses to cross a mount point: used for
// every lookup below the state root (runtime, NAME, upper, work, merged,
// installation, overlays and every layer), which are plain directories of
// the state file system and never legitimately lie on another mount: not
// on a FUSE file system its owner mounted (fusermount3 is set-uid, and with
// user_allow_other root sees what the daemon claims, such as root-owned
// set-uid files), nor on an overlay this helper made and its owner moved
// there from a user namespace of its own (copy-up through such a stack
// runs with the helper's credentials).
func (s *session) openDirXdev(dirfd int, rel, host string) (int, error) {
	return s.openDirFlags(dirfd, rel, host, fsat.NoXdev)
}

func (s *session) openDirFlags(dirfd int, rel, host string, opt fsat.Opt) (int, error) {
	fd, err := fsat.OpenRaw(dirfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0, opt)
	if err == unix.EXDEV && opt&fsat.NoXdev != 0 {
		return -1, mountOnPathError(dirfd, rel, host)
	}
	if err != nil {
		return -1, pathError(host, err)
	}
	return s.keep(fd), nil
}

// PathError is a path the helper could not or would not open. Its message
// says why in the operator's words; Unwrap gives the errno.
type PathError struct {
	Host  string // the host path, as in instance.env
	Why   string
	Errno unix.Errno
}

func (e *PathError) Error() string { return e.Why }
func (e *PathError) Unwrap() error { return e.Errno }

func pathError(host string, err error) error {
	errno, _ := err.(unix.Errno)
	var why string
	switch err {
	case unix.ELOOP:
		why = fmt.Sprintf("refused %s: it or a directory on its path is a symlink, and symlinks are never followed", host)
	case unix.ENOTDIR:
		why = fmt.Sprintf("refused %s: not a directory (or a component of it is not)", host)
	case unix.ENOENT:
		why = fmt.Sprintf("%s does not exist", host)
	case unix.EXDEV:
		why = fmt.Sprintf("refused %s: crosses a mount point or resolves outside its parent", host)
	default:
		why = fmt.Sprintf("open %s: %v", host, err)
	}
	return &PathError{Host: host, Why: why, Errno: errno}
}

// checkOwner refuses an instance directory not owned by the owner of the
// state root: every instance dir is the left4me user's, and a directory of
// anyone else's (root's, say) moved in must not become an upper.
func (s *session) checkOwner(fd int, host string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", host, err)
	}
	if st.Uid != s.stateUID {
		return fmt.Errorf("refused %s: owned by uid %d, not by the owner of %s (uid %d)", host, st.Uid, hostpath.StateDir, s.stateUID)
	}
	return nil
}

// lockInstance takes the lock of the pinned instance directory itself: an
// exclusive flock on a read-only handle of that directory, released when
// the session's fds close. It follows the directory, not its name (the
// owner renaming runtime/A to runtime/B between two calls cannot have both
// work on one upper and work dir at once), and creates nothing, so names a
// caller invents leave no state behind. It waits at most LockWait, then
// fails with ErrBusy naming the instance. A no-op in print-only runs.
func (s *session) lockInstance(in *instanceFDs) error {
	if s.cfg.PrintOnly {
		return nil
	}
	fd, err := fsat.OpenRaw(in.inst, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return pathError(in.instHost, err)
	}
	s.keep(fd)
	deadline := time.Now().Add(LockWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("lock %s: %w", in.instHost, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: instance %s: another process has held the lock on %s for %v (a left4me-overlay still at work, or a process of its owner holding it); try again later", ErrBusy, in.name, in.instHost, LockWait)
		}
		time.Sleep(pause)
	}
}

// instanceFDs holds the pinned handles of one instance.
type instanceFDs struct {
	name                  string
	inst                  int
	upper, work, merged   int
	layers                []int    // topmost first
	layerPaths            []string // host paths, same order
	mountID               uint64   // mount id of merged as opened
	mountRoot             bool     // merged is the root of a mount
	instHost, upperHost   string
	workHost, mergedHost  string
	instanceEnvHost       string
	installFD, overlaysFD int
}

// openInstance pins runtime/NAME and its three overlay dirs.
func (s *session) openInstance(name string) (*instanceFDs, error) {
	in := &instanceFDs{name: name, installFD: -1, overlaysFD: -1}
	in.instHost = hostpath.Instance(name)
	in.upperHost, in.workHost, in.mergedHost = hostpath.Upper(name), hostpath.Work(name), hostpath.Merged(name)
	in.instanceEnvHost = hostpath.InstanceEnv(name)
	rt, err := s.openDirXdev(s.state, "runtime", hostpath.RuntimeDir)
	if err != nil {
		return nil, err
	}
	if in.inst, err = s.openDirXdev(rt, name, in.instHost); err != nil {
		return nil, err
	}
	if err := s.checkOwner(in.inst, in.instHost); err != nil {
		return nil, err
	}
	if err := s.lockInstance(in); err != nil {
		return nil, err
	}
	return in, nil
}

// readLayers reads and validates LOWERDIRS from the pinned instance dir.
func (s *session) readLayers(in *instanceFDs) ([]string, error) {
	fd, err := fsat.OpenRaw(in.inst, "instance.env", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0, fsat.NoXdev)
	if err != nil {
		if err == unix.ENOENT {
			return nil, fmt.Errorf("%w: %s does not exist (it lists the instance's lower layers)", ErrEnv, in.instanceEnvHost)
		}
		return nil, pathError(in.instanceEnvHost, err)
	}
	f := os.NewFile(uintptr(fd), in.instanceEnvHost)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", in.instanceEnvHost, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrEnv, in.instanceEnvHost)
	}
	// A hard link to someone else's file (where protected_hardlinks is off)
	// must not be parsed: parse errors quote the offending line.
	if st.Uid != s.stateUID {
		return nil, fmt.Errorf("refused %s: owned by uid %d, not by the owner of %s (uid %d)", in.instanceEnvHost, st.Uid, hostpath.StateDir, s.stateUID)
	}
	env, err := ParseEnv(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.instanceEnvHost, err)
	}
	layers, err := Layers(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.instanceEnvHost, err)
	}
	return layers, nil
}

// openLayers pins every layer, walking from installation/ or overlays/ so
// that no layer can resolve anywhere else.
func (s *session) openLayers(in *instanceFDs, layers []string) error {
	for _, p := range layers {
		base, rest, err := splitLayer(p)
		if err != nil {
			return err
		}
		var bfd *int
		switch base {
		case "installation":
			bfd = &in.installFD
		case "overlays":
			bfd = &in.overlaysFD
		}
		if *bfd < 0 {
			if *bfd, err = s.openDirXdev(s.state, base, s.host(base)); err != nil {
				return err
			}
		}
		rel := rest
		if rel == "" {
			rel = "."
		}
		fd, err := s.openDirXdev(*bfd, rel, p)
		if err != nil {
			return err
		}
		in.layers = append(in.layers, fd)
	}
	in.layerPaths = layers
	return nil
}

// mountOnPathError explains a lookup below the state root refused for
// crossing a mount. Everything the helper uses is a plain directory of the
// state root's own file system, never another mount: a FUSE file system
// (its owner mounts it; it may show root-owned set-uid files, which
// copy-up, running with the helper's credentials, would make real in the
// upper dir) or an overlay (the helper's own, moved there by its owner)
// could present an owner or mode its user does not hold.
func mountOnPathError(dirfd int, rel, host string) error {
	why := fmt.Sprintf("refused %s: crosses a mount point", host)
	if at, magic, ok := fsat.MountOnPath(dirfd, rel); ok {
		mp := strings.TrimSuffix(host, strings.TrimPrefix(rel, at))
		why += fmt.Sprintf(" at %s (%s)", mp, fsat.FSName(magic))
		if magic == unix.FUSE_SUPER_MAGIC {
			why += " (a FUSE file system, which a user can mount)"
		}
	}
	why += fmt.Sprintf("; everything the helper uses must be a plain directory on the file system of %s, with no mount below it", hostpath.StateDir)
	return &PathError{Host: host, Why: why, Errno: unix.EXDEV}
}

// openOverlayDirs pins upper, work and merged and checks them. Only merged
// may be a mount point, and only of an overlay this helper made: prepare
// checks that, by mount id and without calling into the mount, before it
// looks at its owner.
func (s *session) openOverlayDirs(in *instanceFDs) error {
	var err error
	for _, d := range []struct {
		fd   *int
		rel  string
		host string
	}{{&in.upper, "upper", in.upperHost}, {&in.work, "work", in.workHost}} {
		if *d.fd, err = s.openDirXdev(in.inst, d.rel, d.host); err != nil {
			return err
		}
		if err := s.checkOwner(*d.fd, d.host); err != nil {
			return err
		}
	}
	in.merged, err = s.openDirXdev(in.inst, "merged", in.mergedHost)
	var pe *PathError
	if errors.As(err, &pe) && pe.Errno == unix.EXDEV {
		// A mount point: pin the mount's root (the last component only
		// crosses into it) for prepare to inspect.
		in.merged, err = s.openDir(in.inst, "merged", in.mergedHost)
		return err
	}
	if err != nil {
		return err
	}
	return s.checkOwner(in.merged, in.mergedHost)
}

// statxMount returns the mount id of fd (or of rel below it) and whether it
// is the root of its mount.
func statxMount(dirfd int, rel string) (id uint64, root bool, mode uint32, err error) {
	e, err := fsat.StatMount(dirfd, rel)
	if err != nil {
		return 0, false, 0, err
	}
	return e.MountID, e.MountRoot, e.Mode, nil
}

// sentinelName is hostpath.Sentinel relative to the state root.
var sentinelName = strings.TrimPrefix(hostpath.Sentinel, hostpath.StateDir+"/")

// checkMigrated refuses to mount before the migration to the kernel's
// on-disk format has run on this host: the sentinel must exist as a regular
// file in the pinned state root. An upper written by fuse-overlayfs carries
// no mark on its root a check could rely on (its opaque dirs and whiteout
// files lie anywhere below), and mounting one unconverted makes the files
// its owner deleted visible again.
//
// The sentinel is the left4me user's file, so that user can forge it, and
// that is acceptable: the check keeps an honest operator from mounting a
// stale format, it is not a security boundary. A forged sentinel only lets
// the owner mount their own upper, made of their own files, as a misread
// view (deleted files back, fuse metadata files visible) under the same
// nosuid,nodev overlay every mount gets; it reaches no file the owner
// could not already read or write and grants no privilege. The sentinel is
// opened O_PATH (no open side effects on a fifo or device planted there),
// without following any symlink, and only its type is trusted; its owner
// and content do not matter.
func (s *session) checkMigrated() error {
	fd, err := fsat.OpenRaw(s.state, sentinelName, unix.O_PATH, 0, 0)
	const todo = "run `left4me-deploy migrate` on this host (or redeploy with left4me-deploy), which converts every instance's upper dir and then writes it"
	if err == unix.ENOENT {
		return fmt.Errorf("%w: %s does not exist, so upper dirs may still be in fuse-overlayfs format: %s", ErrNotMigrated, hostpath.Sentinel, todo)
	}
	if err == unix.ELOOP {
		return fmt.Errorf("%w: refused %s: it is a symlink, not a regular file: remove it and %s", ErrNotMigrated, hostpath.Sentinel, todo)
	}
	if err != nil {
		return fmt.Errorf("check migration sentinel %s: %w", hostpath.Sentinel, pathError(hostpath.Sentinel, err))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", hostpath.Sentinel, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG {
		return fmt.Errorf("%w: refused %s: it is a %s, not a regular file: remove it and %s", ErrNotMigrated, hostpath.Sentinel, fileType(t), todo)
	}
	return nil
}

func fileType(t uint32) string {
	switch t {
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", t)
}

// fuseScanMax bounds how many entries of the upper's root checkNotFuse
// looks at, so that a mount never costs a walk of a large upper.
const fuseScanMax = 64

// remigrate ends a refusal of an upper found in fuse-overlayfs format. The
// migration skips a host whose sentinel exists, so an upper arriving after it
// ran (from a backup of the old stack, say) needs the sentinel removed first.
var remigrate = fmt.Sprintf(" run `left4me-deploy migrate` first (if it ran before, remove %s so that it runs again; converted upper dirs stay as they are)", hostpath.Sentinel)

// isFuseXattr reports whether an xattr name is fuse-overlayfs metadata.
func isFuseXattr(n string) bool {
	return strings.HasPrefix(n, "user.fuseoverlayfs.") || strings.HasPrefix(n, "user.containers.override_stat")
}

// checkNotFuse refuses an upper that visibly still carries fuse-overlayfs
// metadata: an xattr of it on the upper root or on one of the root's first
// fuseScanMax entries, or one of its whiteout files (.wh.NAME, .wh..wh..opq)
// among those entries. This is a cheap second net behind checkMigrated, for
// an instance restored or copied from an unconverted host after the
// migration ran: fuse-overlayfs marks every directory its user created as
// opaque, so a new top-level directory gives such an upper away, while a
// top-level directory that was only copied up (left4dead2/, typically) does
// not. It cannot prove an upper converted; only the migration can.
func (s *session) checkNotFuse(in *instanceFDs) error {
	fd, err := fsat.OpenRaw(in.upper, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", in.upperHost, err)
	}
	defer unix.Close(fd)
	names, err := fsat.ListXattr(fd)
	if err != nil {
		return fmt.Errorf("list xattrs of %s: %w", in.upperHost, err)
	}
	for _, n := range names {
		if isFuseXattr(n) {
			return fmt.Errorf("%w: %s has xattr %s;%s", ErrFuseFormat, in.upperHost, n, remigrate)
		}
	}
	entries, err := fsat.FirstNames(fd, fuseScanMax)
	if err != nil {
		return fmt.Errorf("read %s: %w", in.upperHost, err)
	}
	// Entry names are single components from getdents; with the thread's
	// private cwd on the pinned upper, llistxattr looks each up there
	// without following a final symlink.
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir %s: %w", in.upperHost, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e, ".wh.") {
			return fmt.Errorf("%w: %s contains %s, a fuse-overlayfs whiteout file;%s", ErrFuseFormat, in.upperHost, e, remigrate)
		}
		names, err := fsat.LListXattr(e)
		if err == unix.ENOENT {
			continue // removed meanwhile: the owner's business
		}
		if err != nil {
			return fmt.Errorf("list xattrs of %s/%s: %w", in.upperHost, e, err)
		}
		for _, n := range names {
			if isFuseXattr(n) {
				return fmt.Errorf("%w: %s/%s has xattr %s;%s", ErrFuseFormat, in.upperHost, e, n, remigrate)
			}
		}
	}
	return nil
}

// mountAt returns the mountinfo entry of mount id (read in this thread's
// namespace).
func mountByID(id uint64) (*mountinfo.Entry, error) {
	entries, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	for i := range entries {
		if entries[i].ID == id {
			return &entries[i], nil
		}
	}
	return nil, fmt.Errorf("mount id %d not in /proc/thread-self/mountinfo", id)
}

func readMountinfo() ([]mountinfo.Entry, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return mountinfo.Parse(f)
}

// ours reports why the mount whose root fd is pinned is not an overlay this
// helper made ("" when it is): overlayfs by statfs magic, type overlay for
// the kernel, and the helper's source tag left4me-NAME. With exact set,
// the tag must name this instance (mount: an overlay of another instance's
// layers is not "already mounted"); without, any instance's tag will do
// (umount: the owner may have renamed runtime/OTHER to runtime/NAME, and the
// overlay there is still one the helper made, at exactly runtime/NAME/merged).
func ours(fd int, id uint64, name string, exact bool) (string, error) {
	magic, err := fsat.FSMagic(fd)
	if err != nil {
		return "", fmt.Errorf("statfs: %w", err)
	}
	// The mount's type and source, asked of the kernel for exactly the
	// mount fd pins (statmount with the source), else looked up by id in the
	// mount table.
	fsType, source, ok := fsat.MountSource(fd)
	if !ok {
		e, err := mountByID(id)
		if err != nil {
			return "", err
		}
		fsType, source = e.FSType, e.Source
	}
	if magic != unix.OVERLAYFS_SUPER_MAGIC || fsType != "overlay" {
		return fmt.Sprintf("it is a %s mount", fsType), nil
	}
	if source == Source(name) {
		return "", nil
	}
	tagged, ok := strings.CutPrefix(source, "left4me-")
	if !exact && ok && instance.ValidateName(tagged) == nil {
		return "", nil
	}
	if ok && instance.ValidateName(tagged) == nil {
		return fmt.Sprintf("it is the overlay of instance %s (runtime/%s was renamed?): umount it first", tagged, tagged), nil
	}
	return fmt.Sprintf("its source is %q, not %q", source, Source(name)), nil
}

// prepare pins and checks everything Mount needs.
func (s *session) prepare(name string) (*instanceFDs, *Plan, error) {
	in, err := s.openInstance(name)
	if err != nil {
		return nil, nil, err
	}
	layers, err := s.readLayers(in)
	if err != nil {
		return nil, nil, err
	}
	if err := s.openOverlayDirs(in); err != nil {
		return nil, nil, err
	}
	plan := &Plan{Name: name, Method: s.method, Source: Source(name), Merged: in.mergedHost, Upper: in.upperHost, Work: in.workHost, Layers: layers}
	in.mountID, in.mountRoot, _, err = statxMount(in.merged, "")
	if err != nil {
		return nil, nil, fmt.Errorf("statx %s: %w", in.mergedHost, err)
	}
	if in.mountRoot {
		why, err := ours(in.merged, in.mountID, name, true)
		if err != nil {
			return nil, nil, fmt.Errorf("inspect mount at %s: %w", in.mergedHost, err)
		}
		if why != "" {
			return nil, nil, fmt.Errorf("refused %s: something is mounted there and %s (%w)", in.mergedHost, why, ErrForeignMount)
		}
		if err := s.checkOwner(in.merged, in.mergedHost); err != nil {
			return nil, nil, err
		}
		plan.Mounted = true
		return in, plan, nil
	}
	if err := s.checkMigrated(); err != nil {
		return nil, nil, err
	}
	if err := s.checkNotFuse(in); err != nil {
		return nil, nil, err
	}
	if err := s.openLayers(in, layers); err != nil {
		return nil, nil, err
	}
	return in, plan, nil
}

func (s *session) mount(name string) (Result, error) {
	in, plan, err := s.prepare(name)
	if err != nil {
		return Result{}, err
	}
	if s.cfg.PrintOnly {
		return Result{Plan: plan, Message: "print only: nothing mounted"}, nil
	}
	if plan.Mounted {
		return Result{Message: fmt.Sprintf("%s is already mounted at %s (umount it first to pick up layer changes)", name, in.mergedHost)}, nil
	}
	if err := s.checkMountCap(); err != nil {
		return Result{}, err
	}
	switch s.method {
	case MethodFD, MethodLowerdirPlus:
		err = s.mountNewAPI(in)
		if errors.Is(err, errNewAPIUnavailable) && s.cfg.Method == MethodAuto {
			// A seccomp filter (some container managers, older systemd
			// unit sandboxes) may hide fsopen from a kernel that has it.
			s.method = MethodLegacy
			err = s.mountLegacy(in)
		}
	case MethodLegacy:
		err = s.mountLegacy(in)
	default:
		err = fmt.Errorf("mount method %v not implemented", s.method)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Changed: true, Message: fmt.Sprintf("mounted %s at %s (%d layers, method %s)", name, in.mergedHost, len(in.layers), s.method)}, nil
}

func ptrs(fds []int) []*int {
	out := make([]*int, len(fds))
	for i := range fds {
		out[i] = &fds[i]
	}
	return out
}

func fdPath(fd int) string { return fsat.ProcFD(fd) }

// fsErr wraps an fsconfig-family error with the kernel's messages for the
// filesystem context (read(2) on the fs fd; overlayfs explains itself there).
func fsErr(fsfd int, what string, err error) error {
	var msgs []string
	buf := make([]byte, 1024)
	for range 32 {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w (kernel: %s)", what, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mountNewAPI builds the overlay with fsopen/fsconfig/fsmount and attaches
// it with move_mount onto the pinned merged handle.
func (s *session) mountNewAPI(in *instanceFDs) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err == unix.ENOSYS || err == unix.EPERM {
		return fmt.Errorf("fsopen overlay: %w (%w)", err, errNewAPIUnavailable)
	}
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w (is the overlay module available?)", err)
	}
	s.keep(fsfd)
	if s.method == MethodFD {
		// FSCONFIG_SET_FD takes O_PATH handles only from Linux 6.15; 6.13
		// and 6.14 want an opened file. Reopen each pinned directory through
		// its own handle ("." below it: the same inode, no name looked up).
		for _, fd := range append(append([]*int{}, ptrs(in.layers)...), &in.upper, &in.work) {
			rd, err := fsat.OpenRaw(*fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
			if err != nil {
				return fmt.Errorf("reopen pinned directory: %w", err)
			}
			s.closeFD(*fd)
			*fd = s.keep(rd)
		}
	}
	if err := unix.FsconfigSetString(fsfd, "source", Source(in.name)); err != nil {
		return fsErr(fsfd, "fsconfig source", err)
	}
	set := func(key string, fd int, host string) error {
		var err error
		if s.method == MethodFD {
			err = unix.FsconfigSetFd(fsfd, key, fd)
		} else {
			err = unix.FsconfigSetString(fsfd, key, fdPath(fd))
		}
		if err != nil {
			return fsErr(fsfd, fmt.Sprintf("fsconfig %s %s", key, host), err)
		}
		return nil
	}
	for i, fd := range in.layers {
		if err := set("lowerdir+", fd, in.layerPaths[i]); err != nil {
			return err
		}
	}
	if err := set("upperdir", in.upper, in.upperHost); err != nil {
		return err
	}
	if err := set("workdir", in.work, in.workHost); err != nil {
		return err
	}
	for _, o := range mountOptions {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return fsErr(fsfd, "fsconfig "+o[0]+"="+o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fsErr(fsfd, "create overlay for "+in.mergedHost, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fsErr(fsfd, "fsmount", err)
	}
	s.keep(mfd)
	if err := unix.MoveMount(mfd, "", in.merged, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach overlay at %s: %w", in.mergedHost, err)
	}
	newID, _, _, err := statxMount(mfd, "")
	if err != nil {
		return s.undo(mfd, in, fmt.Errorf("statx new mount: %w", err))
	}
	return s.verifyPlaced(in, newID, mfd)
}

// verifyPlaced re-walks runtime/NAME/merged from the state root (which the
// hostile user cannot move) and checks the new mount sits exactly there. The
// mount landed on the pinned merged directory, but its owner could have
// renamed that directory, or runtime/NAME, to elsewhere on the same file
// system (even outside the state root, e.g. into /tmp) between the open and
// the attach; such a mount is detached again.
func (s *session) verifyPlaced(in *instanceFDs, newID uint64, mfd int) error {
	renameBarrier(in.inst)
	id, root, _, err := statxMount(s.state, "runtime/"+in.name+"/merged")
	if err == nil && root && id == newID {
		// Same mount, but is the path still made of directories, not symlinks
		// (statx above follows none in the last component only)?
		fd, oerr := s.openDir(s.state, "runtime/"+in.name+"/merged", in.mergedHost)
		if oerr == nil {
			id2, root2, _, serr := statxMount(fd, "")
			if serr == nil && root2 && id2 == newID {
				return nil
			}
		}
	}
	return s.undo(mfd, in, fmt.Errorf("%w: the new mount is not at %s", ErrMoved, in.mergedHost))
}

// errNewAPIUnavailable marks an fsopen refused as if the kernel lacked it.
var errNewAPIUnavailable = errors.New("new mount API unavailable")

var barrierSeq atomic.Uint64

// renameBarrier waits for any rename(2) in dir that is already under way.
// rename refuses to move a mount point, but it checks that before it moves
// the entry and without locking the directory being moved, so a rename of
// merged that started before the attach can finish after it, carrying the
// fresh mount along. rename holds the parent's i_rwsem throughout; looking
// up a name that is in no cache takes that lock shared (lookup_slow), so it
// returns only once such a rename has finished. Renames that start later see
// the mount point and fail with EBUSY.
func renameBarrier(dir int) {
	name := fmt.Sprintf(".left4me-overlay-barrier-%d-%d-%d", os.Getpid(), unix.Gettid(), barrierSeq.Add(1))
	var st unix.Stat_t
	unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
}

// undo detaches the mount whose root mfd pins: through the magic link the
// path is exactly that mount, wherever it was moved.
func (s *session) undo(mfd int, in *instanceFDs, cause error) error {
	if err := unix.Unmount(fdPath(mfd), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("%v; detaching it again failed: %w", cause, err)
	}
	return fmt.Errorf("%w; the mount was detached again", cause)
}

// mountLegacy mounts with mount(2) for kernels before lowerdir+: the thread's
// cwd is /proc/thread-self/fd, so "12" names fd 12, a pinned directory, and
// 500 layers take at most 2,000 bytes of mount(2)'s 4,096-byte page.
func (s *session) mountLegacy(in *instanceFDs) error {
	before, err := readMountinfo()
	if err != nil {
		return err
	}
	known := make(map[uint64]bool, len(before))
	for _, e := range before {
		known[e.ID] = true
	}
	procfd, err := s.openProcFD()
	if err != nil {
		return err
	}
	if err := unix.Fchdir(procfd); err != nil {
		return fmt.Errorf("chdir /proc/thread-self/fd: %w", err)
	}
	data := legacyData(in)
	if len(data) >= 4096 {
		return fmt.Errorf("mount options for %d layers take %d bytes, over mount(2)'s 4095", len(in.layers), len(data))
	}
	err = unix.Mount(Source(in.name), strconv.Itoa(in.merged), "overlay", unix.MS_NOSUID|unix.MS_NODEV, data)
	if err != nil {
		return fmt.Errorf("mount overlay at %s: %w (see dmesg for overlayfs' reason)", in.mergedHost, err)
	}
	// Find the new mount: the one overlay of this instance not there before.
	after, err := readMountinfo()
	if err != nil {
		return err
	}
	var fresh []mountinfo.Entry
	for _, e := range after {
		if !known[e.ID] && e.FSType == "overlay" && e.Source == Source(in.name) {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) != 1 {
		return fmt.Errorf("mounted at %s but found %d new overlays of it in the mount table", in.mergedHost, len(fresh))
	}
	id := fresh[0].ID
	// Unlike the new API, mount(2) leaves no handle on the new mount. If it
	// is not at merged, pin its root by the path the mount table shows
	// (resolved without symlinks from "/") and detach exactly that mount; the
	// owner may move it meanwhile, so look again a few times.
	renameBarrier(in.inst)
	var last string
	for range 16 {
		if rid, root, _, err := statxMount(s.state, "runtime/"+in.name+"/merged"); err == nil && root && rid == id {
			if fd, err := s.openDir(s.state, "runtime/"+in.name+"/merged", in.mergedHost); err == nil {
				if fid, _, _, err := statxMount(fd, ""); err == nil && fid == id {
					return nil
				}
			}
		}
		e, err := mountByID(id)
		if err != nil {
			return err
		}
		last = e.MountPoint
		mp := strings.TrimPrefix(e.MountPoint, "/")
		if mp == "" {
			mp = "."
		}
		fd, err := s.openDir(s.root, mp, e.MountPoint)
		if err != nil {
			continue
		}
		if fid, froot, _, err := statxMount(fd, ""); err == nil && froot && fid == id {
			return s.undo(fd, in, fmt.Errorf("%w: the new mount landed at %s, not %s", ErrMoved, e.MountPoint, in.mergedHost))
		}
	}
	return fmt.Errorf("%w: the new mount is at %s, not %s, and kept moving: unmount it by hand", ErrMoved, last, in.mergedHost)
}

func (s *session) openProcFD() (int, error) {
	fd, err := unix.Open("/proc/thread-self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /proc/thread-self/fd (is /proc mounted in the target namespace?): %w", err)
	}
	return s.keep(fd), nil
}

// legacyData renders mount(2)'s option string with fd numbers for paths.
func legacyData(in *instanceFDs) string {
	var b strings.Builder
	b.WriteString("lowerdir=")
	for i, fd := range in.layers {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(fd))
	}
	fmt.Fprintf(&b, ",upperdir=%d,workdir=%d", in.upper, in.work)
	for _, o := range mountOptions {
		b.WriteString("," + o[0] + "=" + o[1])
	}
	return b.String()
}

func (s *session) unmount(name string) (Result, error) {
	in, err := s.openInstance(name)
	if errors.Is(err, unix.ENOENT) {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted (%v)", name, err))
	}
	if err != nil {
		return Result{}, err
	}
	id, root, mode, err := statxMount(in.inst, "merged")
	if err == unix.ENOENT {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted (%s does not exist)", name, in.mergedHost))
	}
	if err != nil {
		return Result{}, fmt.Errorf("statx %s: %w", in.mergedHost, err)
	}
	if mode&unix.S_IFMT != unix.S_IFDIR {
		return Result{}, fmt.Errorf("refused %s: not a directory", in.mergedHost)
	}
	if !root {
		return s.notMounted(name, fmt.Sprintf("%s is not mounted", name))
	}
	fd, err := s.openDir(in.inst, "merged", in.mergedHost)
	if err != nil {
		return Result{}, err
	}
	why, err := ours(fd, id, name, false)
	if err != nil {
		return Result{}, fmt.Errorf("inspect mount at %s: %w", in.mergedHost, err)
	}
	if why != "" {
		return Result{}, fmt.Errorf("refused %s: %s (%w)", in.mergedHost, why, ErrForeignMount)
	}
	if id2, _, _, err := statxMount(fd, ""); err != nil || id2 != id {
		return Result{}, fmt.Errorf("%w: %s changed while being inspected", ErrMoved, in.mergedHost)
	}
	if s.cfg.PrintOnly {
		return Result{Message: fmt.Sprintf("print only: would unmount %s", in.mergedHost)}, nil
	}
	// umount(2) through the pinned handle's /proc path would name exactly
	// this mount, but the handle itself keeps it busy (EBUSY), and only a
	// lazy detach gets past that, which would also detach it from under a
	// running server. So: close the handle and unmount "merged" in the
	// pinned instance dir, with its mount id checked immediately before
	// and the mount's absence immediately after. From a user namespace its
	// owner made beforehand, the owner can rename that mount point (the
	// mount is not in that namespace), so a name is not proof; the checks
	// around the call are. UMOUNT_NOFOLLOW refuses a symlink.
	// The never-reused mount id (Linux 6.8+) of the mount checked through
	// the pinned handle, for the checks around the call.
	unique, haveUnique := fsat.UniqueMountID(fd, "")
	s.closeFD(fd)
	if err := unix.Fchdir(in.inst); err != nil {
		return Result{}, fmt.Errorf("chdir %s: %w", in.instHost, err)
	}
	id2, root2, _, err := statxMount(in.inst, "merged")
	same := err == nil && root2 && id2 == id
	if haveUnique {
		u, ok := fsat.UniqueMountID(in.inst, "merged")
		same = same && ok && u == unique
	}
	if !same {
		return Result{}, fmt.Errorf("%w: the mount at %s changed just before the unmount; nothing was unmounted", ErrMoved, in.mergedHost)
	}
	if err := unix.Unmount("merged", unix.UMOUNT_NOFOLLOW); err != nil {
		if err == unix.EBUSY {
			return Result{}, fmt.Errorf("unmount %s: %w (a process still uses it: stop the server first)", in.mergedHost, err)
		}
		return Result{}, fmt.Errorf("unmount %s: %w", in.mergedHost, err)
	}
	stillThere, known := false, false
	if haveUnique {
		stillThere, known = fsat.MountExists(unique)
	}
	if !known {
		_, err := mountByID(id)
		stillThere = err == nil
	}
	if stillThere {
		return Result{Changed: true}, fmt.Errorf("%w: unmounted what was at %s, but the overlay checked there (mount id %d) is still mounted: its owner swapped the mount point during the unmount", ErrMoved, in.mergedHost, id)
	}
	return Result{Changed: true, Message: fmt.Sprintf("unmounted %s from %s", name, in.mergedHost)}, nil
}

// notMounted answers an umount that found nothing mounted at merged. If
// an overlay of the instance is mounted elsewhere than at some instance's
// runtime/NAME/merged (its owner renamed the mount point from a user
// namespace of its own, where the mount does not exist), that is reported
// as a refusal: nothing is unmounted, and the operator learns where the
// overlay went. (After a rename of runtime/NAME itself the overlay sits at
// the new name's merged and is that instance's to unmount.)
func (s *session) notMounted(name, msg string) (Result, error) {
	entries, err := readMountinfo()
	if err != nil {
		return Result{}, err
	}
	runtimeDir := hostpath.RuntimeDir
	if !s.cfg.Root.IsHost() {
		runtimeDir = s.cfg.Root.Join(hostpath.RuntimeDir)
	}
	var at []string
	for _, e := range entries {
		if e.FSType != "overlay" || e.Source != Source(name) {
			continue
		}
		if rest, ok := strings.CutPrefix(e.MountPoint, runtimeDir+"/"); ok {
			if inst, ok := strings.CutSuffix(rest, "/merged"); ok && instance.ValidateName(inst) == nil {
				continue
			}
		}
		at = append(at, strconv.Quote(e.MountPoint))
	}
	if len(at) == 0 {
		return Result{Message: msg}, nil
	}
	return Result{}, fmt.Errorf("%w: %s is not mounted at %s, but its overlay is mounted at %s: its owner moved the mount point; nothing was unmounted (move it back, then umount %s again, or unmount it there as root)", ErrMoved, name, hostpath.Merged(name), strings.Join(at, ", "), name)
}

func (s *session) closeFD(fd int) {
	for i, f := range s.fds {
		if f == fd {
			s.fds = append(s.fds[:i], s.fds[i+1:]...)
			break
		}
	}
	unix.Close(fd)
}
