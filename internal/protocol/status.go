package protocol

import (
	"strconv"

	"github.com/left4me/left4me-deploy/release"
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
	// Drift lists the steps the dry run says would change, with what.
	Drift []Drift `json:"drift"`
	// Failed lists the steps the dry run could not check.
	Failed    []Drift   `json:"failed,omitempty"`
	Migration Migration `json:"migration"`
	// Web is systemctl is-active's word for left4me-web.service.
	Web string `json:"web"`
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
	return nil
}
