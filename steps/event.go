// Package steps is the installer's step engine: ordered steps that read the
// host's state, decide, and either change it or say what they would change.
package steps

// Status is the outcome of one step.
type Status string

// The four outcomes a step can report.
const (
	StatusOK      Status = "ok"
	StatusChanged Status = "changed"
	StatusSkipped Status = "skipped"
	StatusFailed  Status = "failed"
)

// Event is one line of progress, printed as text or (with --json) as one JSON
// object per line. Type is "start" when a step begins (JSON only), "step"
// for a finished step, "diff" for a file diff, "log" for free text, and
// "summary" for the closing counts. The remote
// deployer parses these lines from the host and adds Host.
type Event struct {
	Type   string `json:"type"`
	Host   string `json:"host,omitempty"`
	Step   string `json:"step,omitempty"`
	Status Status `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	Path   string `json:"path,omitempty"`
	Diff   string `json:"diff,omitempty"`

	// Summary counts, set on Type "summary".
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}
