package protocol

import (
	"strconv"
	"strings"

	"github.com/left4me/left4me-deploy/internal/release"
)

// MaxInstances bounds the instances a status report may list.
const MaxInstances = 1 << 16

// HostStatus is what "left4me-deploy status" reports of one host: the
// deployed release, what a deploy would change now, the migration, the web
// app and every game server. The host sends it as one JSON line of type
// "status" before the dry run's summary.
type HostStatus struct {
	Type EventType `json:"type"`
	// Release is the newest record, nil when none was recorded.
	Release *release.Release `json:"release"`
	// Recorded answers "does this host still run the release it
	// recorded?" from the host alone (no bundle): nil when it could not
	// be checked (Failed says why).
	Recorded *Recorded `json:"recorded,omitempty"`
	// Drift answers "is it the release I would ship from here?": the
	// steps the dry run of the offered binaries (the workstation's build
	// or --bundle) says would change, with what.
	Drift []Drift `json:"drift"`
	// Failed lists the steps the dry run could not check.
	Failed    []Drift   `json:"failed,omitempty"`
	Migration Migration `json:"migration"`
	// Web is systemctl is-active's word for left4me-web.service.
	Web string `json:"web"`
	// WebReason says why the web unit is not active (its state, result
	// and exit status, and whether a deploy starts it); empty when active.
	WebReason string `json:"web_reason,omitempty"`
	// Instances is what l4d2ctl list --json says.
	Instances      []Instance `json:"instances"`
	InstancesError string     `json:"instances_error,omitempty"`
}

// Drift is one step of the dry run that would change something.
type Drift struct {
	Step   string `json:"step"`
	Reason string `json:"reason"`
}

// Migration is the state of the fuse-overlayfs migration.
type Migration struct {
	// Sentinel is true once the migration finished on the host.
	Sentinel bool `json:"sentinel"`
	// Report sums up the kept migration report ("" when there is none).
	Report string `json:"report,omitempty"`
}

// Instance is one game server as l4d2ctl list --json reports it.
type Instance struct {
	Name    string `json:"name"`
	Exists  bool   `json:"exists"`
	Mounted bool   `json:"mounted"`
	Unit    string `json:"unit"`
	State   string `json:"state"`
}

// check refuses a report whose words are outside the protocol. Free text
// (reasons, names, the web app's state, the release's version and user)
// is only printed, through textsafe.
func (st *HostStatus) check() error {
	if r := st.Release; r != nil {
		if err := CheckRelease(r.ID); err != nil {
			return err
		}
		if r.From != "" {
			if err := CheckRelease(r.From); err != nil {
				return err
			}
		}
	}
	for _, d := range append(append([]Drift(nil), st.Drift...), st.Failed...) {
		if err := CheckStep(d.Step); err != nil {
			return err
		}
	}
	if len(st.Instances) > MaxInstances {
		return refuse("instance count", strconv.Itoa(len(st.Instances)), "at most 65536")
	}
	if r := st.Recorded; r != nil && r.Installed != "" {
		if err := CheckRelease(r.Installed); err != nil {
			return err
		}
	}
	return nil
}

// Recorded is the host measured against its own newest release record and
// against what systemd runs.
type Recorded struct {
	// Matches is true when every list below is empty: the installed
	// files are the newest record's, systemd holds every unit as
	// installed, the web app runs the installed files, no restart is
	// pending and no interrupted run left anything behind.
	Matches bool `json:"matches"`
	// Installed is the content ID of the installed files (Release.ID).
	Installed string `json:"installed,omitempty"`
	// Differ are the files whose checksum is not the newest record's
	// (every file when there is no record).
	Differ []string `json:"differ,omitempty"`
	// StaleUnits are our units systemd holds loaded from older files
	// (NeedDaemonReload=yes).
	StaleUnits []string `json:"stale_units,omitempty"`
	// WebStale says which installed file changed after the web app's
	// main process started.
	WebStale string `json:"web_stale,omitempty"`
	// PendingRestart are the reasons an earlier run recorded for a web
	// app restart that has not happened yet.
	PendingRestart []string `json:"pending_restart,omitempty"`
	// Leftovers are files an interrupted run left (the next run removes
	// them).
	Leftovers []string `json:"leftovers,omitempty"`
}

// Problems says in words what keeps r from matching, one line each.
func (r Recorded) Problems() []string {
	var out []string
	if len(r.Differ) > 0 {
		out = append(out, "installed files differ from the newest record: "+strings.Join(r.Differ, ", "))
	}
	if len(r.StaleUnits) > 0 {
		out = append(out, "systemd holds older versions of "+strings.Join(r.StaleUnits, ", ")+" (daemon-reload pending)")
	}
	if r.WebStale != "" {
		out = append(out, "the web app runs older files: "+r.WebStale)
	}
	if len(r.PendingRestart) > 0 {
		out = append(out, "web app restart pending: "+strings.Join(r.PendingRestart, ", "))
	}
	if len(r.Leftovers) > 0 {
		out = append(out, "left by an interrupted run: "+strings.Join(r.Leftovers, ", "))
	}
	return out
}
