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

// EventType says what an Event reports. It is the "type" field of the
// JSON event lines (internal/protocol) that the remote deployer reads back
// from a host.
type EventType string

// The kinds of event.
const (
	// EventStart: a step begins (printed in JSON only), so that a cut
	// connection can name the step it was in.
	EventStart EventType = "start"
	// EventStep: a step finished, with its Status and Reason.
	EventStep EventType = "step"
	// EventDiff: the unified diff of a file the step changes (Path, Diff).
	EventDiff EventType = "diff"
	// EventLog: free text from a step (Reason).
	EventLog EventType = "log"
	// EventSummary: the closing counts of a run.
	EventSummary EventType = "summary"
)

// Event is one line of progress of the engine, printed as text or (with
// --json, as a protocol.Event) as one JSON object per line.
type Event struct {
	Type   EventType `json:"type"`
	Step   string    `json:"step,omitempty"`
	Status Status    `json:"status,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Path   string    `json:"path,omitempty"`
	Diff   string    `json:"diff,omitempty"`

	// Summary counts, set on Type "summary".
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}
