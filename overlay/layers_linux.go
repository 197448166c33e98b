//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/left4me/left4me-deploy/internal/fsat"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instanceenv"
)

// readLayers reads and validates LOWERDIRS from the pinned instance dir.
func (s *session) readLayers(in *instanceFDs) ([]string, error) {
	fd, err := fsat.OpenRaw(in.inst, "instance.env", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0, fsat.NoXdev)
	if err != nil {
		if err == unix.ENOENT {
			return nil, fmt.Errorf("%w: %s does not exist (it lists the instance's lower layers)", instanceenv.ErrEnv, in.instanceEnvHost)
		}
		return nil, pathError(in.instanceEnvHost, err)
	}
	f := os.NewFile(uintptr(fd), in.instanceEnvHost)
	defer f.Close()
	st, err := fsat.Stat(fd, "")
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", in.instanceEnvHost, err)
	}
	if !st.IsReg() {
		return nil, fmt.Errorf("%w: %s is not a regular file", instanceenv.ErrEnv, in.instanceEnvHost)
	}
	// A hard link to someone else's file (where protected_hardlinks is off)
	// must not be parsed: parse errors quote the offending line.
	if st.UID != s.stateUID {
		return nil, fmt.Errorf("refused %s: owned by uid %d, not by the owner of %s (uid %d)", in.instanceEnvHost, st.UID, hostpath.StateDir, s.stateUID)
	}
	env, err := instanceenv.ParseEnv(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.instanceEnvHost, err)
	}
	layers, err := instanceenv.Layers(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.instanceEnvHost, err)
	}
	return layers, nil
}

// openLayers pins every layer, walking from installation/ or overlays/ so
// that no layer can resolve anywhere else.
func (s *session) openLayers(in *instanceFDs, layers []string) error {
	for _, p := range layers {
		base, rest, err := instanceenv.SplitLayer(p)
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
