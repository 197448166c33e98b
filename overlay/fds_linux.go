//go:build linux

package overlay

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
)

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

func ptrs(fds []int) []*int {
	out := make([]*int, len(fds))
	for i := range fds {
		out[i] = &fds[i]
	}
	return out
}

func fdPath(fd int) string { return fsat.ProcFD(fd) }

func (s *session) closeFD(fd int) {
	for i, f := range s.fds {
		if f == fd {
			s.fds = append(s.fds[:i], s.fds[i+1:]...)
			break
		}
	}
	unix.Close(fd)
}
