//go:build linux

package fsat

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotRegular: the entry is not a regular file (a FIFO, a device, a
// directory, a socket).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooBig: a file is larger than the caller's cap.
var ErrTooBig = errors.New("larger than allowed")

// ReadSmall reads the regular file name beneath dirfd, which must be at
// most max bytes, for a privileged caller reading a file someone else may
// have planted: no link is followed (RESOLVE_NO_SYMLINKS and O_NOFOLLOW, so
// a symlink to a root-only file is refused, not read), no mount is crossed
// (RESOLVE_NO_XDEV, so no FUSE daemon is asked), the open does not wait
// (O_NONBLOCK: a FIFO neither blocks the open nor, being refused before
// any read, the read), only a regular file is read, and the size is
// checked on the open file before a byte is read and again while reading
// (a sparse file of a terabyte costs nothing to make). Errors are
// *os.PathError naming path, wrapping the errno, ErrNotRegular or
// ErrTooBig.
func ReadSmall(dirfd int, name, path string, max int64) ([]byte, error) {
	fd, err := Open(dirfd, name, path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0, NoXdev)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return ReadSmallFD(fd, path, max)
}

// ReadSmallFD is ReadSmall on a file already open for reading as fd (its
// offset is not used: it reads from byte 0).
func ReadSmallFD(fd int, path string, max int64) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (mode %#o)", ErrNotRegular, st.Mode)}
	}
	if st.Size > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, the cap is %d", ErrTooBig, st.Size, max)}
	}
	buf := make([]byte, 0, st.Size+1)
	chunk := make([]byte, 32<<10)
	for {
		m, err := unix.Pread(fd, chunk, int64(len(buf)))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf, nil
		}
		buf = append(buf, chunk[:m]...)
		if int64(len(buf)) > max {
			return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: grew past the cap of %d bytes while read", ErrTooBig, max)}
		}
	}
}
