package protocol

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/left4me/left4me-deploy/steps"
)

// EventType says what an Event reports: its "type" field.
type EventType string

// The kinds of event. All but EventError come from the host.
const (
	EventStart   = EventType(steps.EventStart)
	EventStep    = EventType(steps.EventStep)
	EventDiff    = EventType(steps.EventDiff)
	EventLog     = EventType(steps.EventLog)
	EventSummary = EventType(steps.EventSummary)
	// EventStatus: a host's whole state (HostStatus), one line before the
	// dry run's summary (left4me-deploy status).
	EventStatus EventType = "status"
	// EventError: the workstation's own failure for a host, outside any
	// step; never sent by a host.
	EventError EventType = "error"
)

// Event is one line of a host's progress as the workstation reads it and
// prints it with --json: a steps.Event, the host it came from, and on the
// summary the release the host runs.
type Event struct {
	Type   EventType    `json:"type"`
	Host   string       `json:"host,omitempty"`
	Step   string       `json:"step,omitempty"`
	Status steps.Status `json:"status,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Path   string       `json:"path,omitempty"`
	Diff   string       `json:"diff,omitempty"`
	// Release is the id of the release the host runs after the plan, set
	// on the summary ("" if none was recorded).
	Release string `json:"release,omitempty"`

	// Summary counts, set on Type "summary".
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// FromStep is the Event of an engine event.
func FromStep(e steps.Event) Event {
	return Event{Type: EventType(e.Type), Step: e.Step, Status: e.Status, Reason: e.Reason, Path: e.Path, Diff: e.Diff,
		OK: e.OK, Changed: e.Changed, Failed: e.Failed, Skipped: e.Skipped}
}

// ErrNotEvent is ParseEvent's error for a line that is not a JSON event
// at all (a stray line of the plan's stdout): the workstation prints such
// a line as text and acts on nothing in it.
var ErrNotEvent = errors.New("not an event")

// ParseEvent checks one line of the plan's stdout. A line that is not a
// JSON object with a type is ErrNotEvent; a JSON event with a word outside
// the protocol (type, step, status, counts, release id, a host name the
// host has no business sending) is a *RefusedError. A status line comes
// back as Type EventStatus with its report in status.
func ParseEvent(line string) (ev Event, status *HostStatus, err error) {
	if !strings.HasPrefix(line, "{") {
		return ev, nil, ErrNotEvent
	}
	var head struct {
		Type EventType `json:"type"`
	}
	if err := json.Unmarshal([]byte(line), &head); err != nil || head.Type == "" {
		return ev, nil, ErrNotEvent
	}
	if head.Type == EventStatus {
		var st HostStatus
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			return ev, nil, refuse("status report", cut(line), "a host status object")
		}
		return Event{Type: EventStatus}, &st, st.check()
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		return ev, nil, refuse("event", cut(line), "an event object")
	}
	return ev, nil, ev.check()
}

func cut(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

func (ev Event) check() error {
	switch ev.Type {
	case EventStart, EventStep, EventDiff, EventLog, EventSummary:
	default:
		return refuse("event type", string(ev.Type), "start, step, diff, log, summary or status")
	}
	if ev.Host != "" {
		return refuse("host field", ev.Host, "none: the workstation names the host")
	}
	if ev.Step != "" || ev.Type == EventStart || ev.Type == EventStep {
		if err := CheckStep(ev.Step); err != nil {
			return err
		}
	}
	if ev.Type == EventStep {
		if !slices.Contains(Statuses, string(ev.Status)) {
			return refuse("step status", string(ev.Status), "ok, changed, skipped or failed")
		}
	} else if ev.Status != "" {
		return refuse("status of a "+string(ev.Type)+" event", string(ev.Status), "none")
	}
	for _, n := range []int{ev.OK, ev.Changed, ev.Failed, ev.Skipped} {
		if n < 0 || n > MaxCount || n != 0 && ev.Type != EventSummary {
			return refuse("count", strconv.Itoa(n), "0 to 10000, on a summary only")
		}
	}
	if ev.Release != "" {
		if ev.Type != EventSummary {
			return refuse("release of a "+string(ev.Type)+" event", ev.Release, "none")
		}
		return CheckRelease(ev.Release)
	}
	return nil
}

// eventJSON is Event as printed (steps.SchemaVersion): the schema version
// first, the release and the counters only on a summary.
type eventJSON struct {
	Schema  int          `json:"schema"`
	Type    EventType    `json:"type"`
	Host    string       `json:"host,omitempty"`
	Step    string       `json:"step,omitempty"`
	Status  steps.Status `json:"status,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Path    string       `json:"path,omitempty"`
	Diff    string       `json:"diff,omitempty"`
	Release string       `json:"release,omitempty"`
	*steps.Counts
}

// MarshalJSON prints ev as schema steps.SchemaVersion says.
func (ev Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Schema: steps.SchemaVersion, Type: ev.Type, Host: ev.Host, Step: ev.Step, Status: ev.Status, Reason: ev.Reason, Path: ev.Path, Diff: ev.Diff, Release: ev.Release}
	if ev.Type == EventSummary {
		j.Counts = &steps.Counts{OK: ev.OK, Changed: ev.Changed, Failed: ev.Failed, Skipped: ev.Skipped}
	}
	return json.Marshal(j)
}
