//go:build linux

package fsat

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is a pinned fd (a directory, or any inode opened beneath one) that
// carries its own path, for messages. Every lookup through it starts at
// the fd, with the guarantees at the top of this package; every error of
// its methods is an *os.PathError naming the entry (the Dir's path joined
// with the name) and the operation, wrapping the errno or a sentinel of
// this package, so errors.Is sees the errno.
//
// A Dir is not safe for concurrent Close; its other methods may be called
// from several goroutines.
type Dir struct {
	fd   int
	path string
}

// OpenTrusted opens the trusted absolute path (the state root, "/", a
// root-owned directory: every component of it is trusted, which is why a
// plain open is right) with the open(2) flags given, O_CLOEXEC always
// added. The one open in this package that resolves a path by name from
// the process's root: nothing below the hostile tree's top is reached
// that way.
func OpenTrusted(path string, flags int) (*Dir, error) {
	var fd int
	err := retry(func() error {
		var err error
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{fd: fd, path: path}, nil
}

// NewDir wraps the open fd, which the Dir then owns (Close closes it);
// path names it in errors.
func NewDir(fd int, path string) *Dir { return &Dir{fd: fd, path: path} }

// FD is the Dir's fd, for calls this package does not make (fchdir, mount
// calls, flock); it stays owned by the Dir.
func (d *Dir) FD() int { return d.fd }

// Path is the path the Dir was opened as.
func (d *Dir) Path() string { return d.path }

// Join names the entry name of the Dir: its path and name; "" and "."
// name the Dir itself.
func (d *Dir) Join(name string) string {
	switch {
	case name == "" || name == ".":
		return d.path
	case strings.HasSuffix(d.path, "/"):
		return d.path + name
	}
	return d.path + "/" + name
}

// Close closes the fd; a nil Dir, or one closed already, is a no-op.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Release hands the fd to the caller, who then closes it; the Dir is
// closed.
func (d *Dir) Release() int {
	fd := d.fd
	d.fd = -1
	return fd
}

// ProcFD is the /proc path of the Dir's fd (see the function ProcFD).
func (d *Dir) ProcFD() string { return ProcFD(d.fd) }

// Open opens name beneath the Dir as Open does, as a new Dir named
// Join(name).
func (d *Dir) Open(name string, flags int, mode uint32, opt Opt) (*Dir, error) {
	fd, err := Open(d.fd, name, d.Join(name), flags, mode, opt)
	if err != nil {
		return nil, err
	}
	return &Dir{fd: fd, path: d.Join(name)}, nil
}

// OpenDir opens the directory name beneath the Dir as an O_PATH handle.
func (d *Dir) OpenDir(name string, opt Opt) (*Dir, error) {
	return d.Open(name, unix.O_PATH|unix.O_DIRECTORY, 0, opt)
}

// Stat is Stat of name in the Dir ("" for the Dir itself); errors have Op
// "statx".
func (d *Dir) Stat(name string) (Entry, error) {
	e, err := Stat(d.fd, name)
	if err != nil {
		return Entry{}, &os.PathError{Op: "statx", Path: d.Join(name), Err: err}
	}
	return e, nil
}

// MountAt is MountAt of name in the Dir; errors have Op "statx".
func (d *Dir) MountAt(name string) (id uint64, root bool, err error) {
	id, root, err = MountAt(d.fd, name)
	if err != nil {
		return 0, false, &os.PathError{Op: "statx", Path: d.Join(name), Err: err}
	}
	return id, root, nil
}

// Names is Names of the Dir, which must be open for reading; errors have
// Op "readdir".
func (d *Dir) Names(max int) ([]string, error) {
	names, err := Names(d.fd, max)
	if err != nil {
		return nil, &os.PathError{Op: "readdir", Path: d.path, Err: err}
	}
	return names, nil
}

// ReadSmall is ReadSmall of name beneath the Dir.
func (d *Dir) ReadSmall(name string, max int64) ([]byte, error) {
	return ReadSmall(d.fd, name, d.Join(name), max)
}

// RemoveAll is RemoveAll of name in the Dir.
func (d *Dir) RemoveAll(name string) error { return RemoveAll(d.fd, name, d.Join(name)) }

// CheckLocalFS is CheckLocalFS of the Dir; what names it in messages.
func (d *Dir) CheckLocalFS(what string) error { return CheckLocalFS(d.fd, d.path, what) }

// Mkdir is Mkdir of name in the Dir; errors have Op "mkdir".
func (d *Dir) Mkdir(name string, mode uint32) error {
	return d.wrap("mkdir", name, Mkdir(d.fd, name, mode))
}

// Unlink is Unlink of name in the Dir; errors have Op "unlink".
func (d *Dir) Unlink(name string) error { return d.wrap("unlink", name, Unlink(d.fd, name)) }

// Rmdir is Rmdir of name in the Dir; errors have Op "rmdir".
func (d *Dir) Rmdir(name string) error { return d.wrap("rmdir", name, Rmdir(d.fd, name)) }

// MkWhiteout is MkWhiteout of name in the Dir; errors have Op "mknod".
func (d *Dir) MkWhiteout(name string) error {
	return d.wrap("mknod", name, MkWhiteout(d.fd, name))
}

// RenameNoReplace is RenameNoReplace of oldName in the Dir to newName in
// to; errors have Op "rename" and name the old entry.
func (d *Dir) RenameNoReplace(oldName string, to *Dir, newName string) error {
	return d.wrap("rename", oldName, RenameNoReplace(d.fd, oldName, to.fd, newName))
}

// Chown is Chown of the Dir's own inode; errors have Op "chown".
func (d *Dir) Chown(uid, gid int) error { return d.wrap("chown", "", Chown(d.fd, uid, gid)) }

func (d *Dir) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: d.Join(name), Err: err}
}

// Reopen opens the inode the Dir pins again, with the open(2) flags given
// (O_CLOEXEC added), through its /proc link (ProcFD): the same inode on the
// same mount, no name looked up again. It is how an O_PATH handle a caller
// judged becomes one it can read or change through.
func (d *Dir) Reopen(flags int) (*Dir, error) {
	var fd int
	err := retry(func() error {
		var err error
		fd, err = unix.Open(ProcFD(d.fd), flags|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	return &Dir{fd: fd, path: d.path}, nil
}
