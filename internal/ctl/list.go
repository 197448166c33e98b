//go:build linux

package ctl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/svchelper"
)

// Bounds of list and status: the owner of the state dir decides how many
// directories runtime/ holds, and root runs l4d2ctl list for
// left4me-deploy status.
const (
	// MaxList is how many instances list examines: the first MaxList
	// instance directories in runtime/ by name. The rest are counted,
	// exactly, and reported in an error wrapping ErrTooManyInstances.
	MaxList = 1000
	// ListTimeout bounds list and status, the systemd query included.
	ListTimeout = 60 * time.Second
	// maxUnitList bounds the bytes read of the one systemd listing.
	maxUnitList = 16 << 20
)

// ErrTooManyInstances is wrapped by List's error when runtime/ holds more
// than MaxList instances; the list then holds the first MaxList.
var ErrTooManyInstances = errors.New("too many instances")

// List returns the Status of every instance under runtime/, sorted by name:
// every directory whose name is a valid instance name (entries that are not
// — stray files, symlinks, other names — are skipped), at most MaxList of
// them. Unit states come from one systemd query for all of them. It ends
// within ListTimeout.
func (c *Ctl) List(ctx context.Context) ([]Status, error) {
	ctx, cancel := context.WithTimeout(ctx, ListTimeout)
	defer cancel()
	names, total, err := c.instanceNames(MaxList)
	if err != nil {
		return nil, err
	}
	list := []Status{}
	if len(names) == 0 {
		return list, nil
	}
	var errs []error
	states, stateErr := c.unitStates(ctx)
	if stateErr != nil {
		errs = append(errs, fmt.Errorf("states of the %s units: %w", svchelper.ServerUnitPattern, stateErr))
	}
	for _, n := range names {
		st, serrs := c.localStatus(n)
		errs = append(errs, serrs...)
		switch s, ok := states[st.Unit]; {
		case stateErr != nil:
			st.State = "unknown"
		case ok:
			st.State = s
		default:
			// Not loaded: what systemctl is-active says of such a unit.
			st.State = "inactive"
		}
		list = append(list, st)
	}
	if total > len(names) {
		errs = append(errs, fmt.Errorf("%w: %s holds %d instance directories; list examined the first %d by name and not the other %d",
			ErrTooManyInstances, c.path(hostpath.RuntimeDir), total, len(names), total-len(names)))
	}
	return list, errors.Join(errs...)
}

// unitStates asks systemd once, through left4me-systemctl list-units, for
// the active state of every loaded left4me-server@ unit, by unit name.
func (c *Ctl) unitStates(ctx context.Context) (map[string]string, error) {
	out := &capped{max: maxUnitList}
	err := c.Runner.Run(ctx, runner.Cmd{Argv: c.listArgv(), Stdout: out})
	if out.over {
		return nil, fmt.Errorf("the unit listing is longer than %d bytes", maxUnitList)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (after %s): %w", ctx.Err(), ListTimeout, err)
		}
		return nil, err
	}
	return parseUnitList(out.buf.Bytes()), nil
}

// parseUnitList reads systemctl list-units --plain --no-legend lines,
// "UNIT LOAD ACTIVE SUB DESCRIPTION...", and keeps the units of valid
// instance names. A leading status mark ("●", "*") is skipped.
func parseUnitList(b []byte) map[string]string {
	states := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxUnitList)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && (f[0] == "●" || f[0] == "*" || f[0] == "×") {
			f = f[1:]
		}
		if len(f) < 3 {
			continue
		}
		name, ok := strings.CutPrefix(f[0], "left4me-server@")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, ".service")
		if !ok || instance.ValidateName(name) != nil {
			continue
		}
		states[f[0]] = f[2]
	}
	return states
}

// capped is a writer that keeps at most max bytes and notes that more came.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (w *capped) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); len(p) > room {
		w.over = true
		if room > 0 {
			w.buf.Write(p[:room])
		}
		return 0, errors.New("unit listing too long")
	}
	return w.buf.Write(p)
}
