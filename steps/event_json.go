package steps

import "encoding/json"

// SchemaVersion is the "schema" field of every JSON line left4me-deploy
// prints (docs/json-schema/, docs/remote.md). It goes up when a field
// changes meaning or goes away; new fields and event types do not change
// it.
const SchemaVersion = 1

// eventJSON is Event as printed: the schema version first, and the
// counters only on a summary, where they mean something.
type eventJSON struct {
	Schema int       `json:"schema"`
	Type   EventType `json:"type"`
	Step   string    `json:"step,omitempty"`
	Status Status    `json:"status,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Path   string    `json:"path,omitempty"`
	Diff   string    `json:"diff,omitempty"`
	*Counts
}

// Counts are the closing counts of a plan's run.
type Counts struct {
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// MarshalJSON prints e as schema SchemaVersion says.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Schema: SchemaVersion, Type: e.Type, Step: e.Step, Status: e.Status, Reason: e.Reason, Path: e.Path, Diff: e.Diff}
	if e.Type == EventSummary {
		j.Counts = &Counts{OK: e.OK, Changed: e.Changed, Failed: e.Failed, Skipped: e.Skipped}
	}
	return json.Marshal(j)
}
