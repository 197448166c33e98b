package release

// HostStatus is what "left4me-deploy status" reports of one host: the
// deployed release, what a deploy would change now, the migration, the web
// app and every game server. The host sends it as one JSON line of type
// "status" before the dry run's summary.
type HostStatus struct {
	Type string `json:"type"`
	// Release is the newest record, nil when none was recorded.
	Release *Release `json:"release"`
	// Drift lists the steps the dry run says would change, with what.
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
