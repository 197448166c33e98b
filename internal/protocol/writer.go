package protocol

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/left4me/left4me-deploy/steps"
)

// Writer is the host's side: it prints the plan's events as the JSON
// lines the workstation reads, one per line, and puts the release the
// plan recorded (SetRelease) on the summary.
type Writer struct {
	mu      sync.Mutex
	enc     *json.Encoder
	release string
}

// NewWriter returns a Writer printing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

// Emit prints one engine event.
func (w *Writer) Emit(e steps.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := FromStep(e)
	if ev.Type == EventSummary {
		ev.Release = w.release
	}
	w.enc.Encode(ev)
}

// SetRelease names the release the host runs, for the summary.
func (w *Writer) SetRelease(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.release = id
}

// Status prints a status report.
func (w *Writer) Status(st HostStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st.Type = EventStatus
	w.enc.Encode(st)
}
