package overlay

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelRelease is the running kernel's release, as uname -r prints it.
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// method is the mount method of this run: the one the kernel's release
// calls for, or the forced one if the kernel has it. A forced method the
// kernel lacks is refused here, before anything is opened or mounted.
func (c Config) method() (Method, error) {
	rel := c.Release
	if rel == "" {
		r, err := KernelRelease()
		if err != nil {
			return 0, err
		}
		rel = r
	}
	if c.Method == MethodAuto {
		return MethodFor(rel)
	}
	if err := MethodAvailable(rel, c.Method); err != nil {
		return 0, err
	}
	return c.Method, nil
}
