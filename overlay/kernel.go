package overlay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Method is how the helper hands the layers to the kernel. Which one a kernel
// takes is decided by its release (MethodFor); tests force each one.
type Method int

// The mount methods, newest first.
const (
	// MethodAuto picks by kernel release.
	MethodAuto Method = iota
	// MethodFD (Linux 6.13+): fsopen("overlay") and fsconfig(FSCONFIG_SET_FD)
	// with "lowerdir+", "upperdir" and "workdir" naming the pinned directory
	// fds themselves: nothing is resolved by name after the checks.
	MethodFD
	// MethodLowerdirPlus (Linux 6.8–6.12): fsconfig("lowerdir+") one layer at
	// a time, each as the string /proc/thread-self/fd/N of a pinned fd, which
	// the kernel resolves through the magic link to exactly that directory.
	MethodLowerdirPlus
	// MethodLegacy (Linux 5.8–6.7, e.g. Debian 12's 6.1): mount(2) with the
	// thread's cwd in /proc/thread-self/fd and the layers as short relative
	// fd numbers ("lowerdir=12:13:..."), so 500 layers fit mount(2)'s
	// one-page option limit and each name still resolves to a pinned fd.
	MethodLegacy
)

var methodNames = map[Method]string{
	MethodAuto:         "auto",
	MethodFD:           "fd",
	MethodLowerdirPlus: "lowerdir+",
	MethodLegacy:       "legacy",
}

func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod is the inverse of Method.String.
func ParseMethod(s string) (Method, error) {
	for m, n := range methodNames {
		if n == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown mount method %q (want auto, fd, lowerdir+ or legacy)", s)
}

// Kernel versions that gate the mount methods.
var (
	minKernel          = kver{5, 8}  // openat2 (5.6), statx STATX_MNT_ID and STATX_ATTR_MOUNT_ROOT (5.8)
	lowerdirPlusKernel = kver{6, 8}  // fsconfig "lowerdir+"
	fdLayerKernel      = kver{6, 13} // FSCONFIG_SET_FD for overlayfs layers
)

type kver struct{ major, minor int }

func (a kver) less(b kver) bool {
	return a.major < b.major || (a.major == b.major && a.minor < b.minor)
}

func (a kver) String() string { return fmt.Sprintf("%d.%d", a.major, a.minor) }

func parseRelease(release string) (kver, error) {
	s := strings.TrimSpace(release)
	fields := strings.SplitN(s, ".", 3)
	if len(fields) < 2 {
		return kver{}, fmt.Errorf("cannot read kernel release %q: want MAJOR.MINOR[...]", release)
	}
	major, err := strconv.Atoi(fields[0])
	if err != nil {
		return kver{}, fmt.Errorf("cannot read kernel release %q: major %q is not a number", release, fields[0])
	}
	// The minor may be followed by a suffix ("6.8-rc1", "6.1.0-26-amd64").
	minorStr := fields[1]
	if i := strings.IndexFunc(minorStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorStr = minorStr[:i]
	}
	minor, err := strconv.Atoi(minorStr)
	if err != nil {
		return kver{}, fmt.Errorf("cannot read kernel release %q: minor %q is not a number", release, fields[1])
	}
	return kver{major, minor}, nil
}

// KernelSupported reports whether a kernel of this release (as printed by
// uname -r) can run left4me-overlay: it needs Linux 5.8 or newer (openat2 to
// resolve hostile paths without following symlinks, statx mount-root
// attributes to recognise its own mounts). The installer's preflight calls it.
func KernelSupported(release string) error {
	_, err := MethodFor(release)
	return err
}

// MethodFor returns the mount method the helper uses on a kernel of this
// release, or an error if the kernel is too old or the release unreadable.
func MethodFor(release string) (Method, error) {
	v, err := parseRelease(release)
	if err != nil {
		return 0, err
	}
	switch {
	case v.less(minKernel):
		return 0, fmt.Errorf("kernel %s is older than %s: left4me-overlay needs openat2 and statx mount-root attributes; upgrade the kernel", strings.TrimSpace(release), minKernel)
	case v.less(lowerdirPlusKernel):
		return MethodLegacy, nil
	case v.less(fdLayerKernel):
		return MethodLowerdirPlus, nil
	default:
		return MethodFD, nil
	}
}

// ErrMethodUnavailable marks a forced mount method the running kernel lacks
// (errors.Is matches a *MethodUnavailableError).
var ErrMethodUnavailable = errors.New("mount method unavailable on this kernel")

// MethodUnavailableError is MethodAvailable's refusal: kernel Release lacks
// Method, which needs Linux Need; Auto is what the helper picks there.
type MethodUnavailableError struct {
	Release string
	Method  Method
	Need    string
	Auto    Method
}

func (e *MethodUnavailableError) Error() string {
	return fmt.Sprintf("mount method %s needs Linux %s or newer (%s); kernel %s lacks it (the automatic choice there is %s)",
		e.Method, e.Need, methodNeeds[e.Method], e.Release, e.Auto)
}

// Is makes errors.Is(err, ErrMethodUnavailable) true.
func (e *MethodUnavailableError) Is(target error) bool { return target == ErrMethodUnavailable }

// What each method needs from the kernel, for the refusal.
var methodNeeds = map[Method]string{
	MethodFD:           "overlay layers as fds, FSCONFIG_SET_FD",
	MethodLowerdirPlus: `fsconfig "lowerdir+"`,
}

// MethodAvailable reports whether a kernel of this release (as printed by
// uname -r) has mount method m: fd needs Linux 6.13, lowerdir+ 6.8, and
// legacy, like every method, 5.8. The helper calls it on a forced method
// before it opens or mounts anything, so a method the kernel lacks leaves no
// half-made mount and no "unrecognized mount option" in the kernel log.
// MethodAuto is available wherever the helper runs at all.
func MethodAvailable(release string, m Method) error {
	v, err := parseRelease(release)
	if err != nil {
		return err
	}
	auto, err := MethodFor(release)
	if err != nil {
		return err
	}
	need := map[Method]kver{MethodFD: fdLayerKernel, MethodLowerdirPlus: lowerdirPlusKernel}
	switch m {
	case MethodAuto, MethodLegacy:
		return nil
	case MethodFD, MethodLowerdirPlus:
		if v.less(need[m]) {
			return &MethodUnavailableError{Release: strings.TrimSpace(release), Method: m, Need: need[m].String(), Auto: auto}
		}
		return nil
	}
	return fmt.Errorf("unknown mount method %v", m)
}
