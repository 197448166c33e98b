package protocol

import (
	"encoding/json"
	"io"

	"github.com/left4me/left4me-deploy/internal/lines"
)

// SummaryRelease passes the JSON events of an older installer through (a
// rollback runs the kept installer of the release it goes back to),
// naming on its summary, which an installer from before the release field
// leaves without one, the release the rollback leaves on the host: the
// target when nothing failed, else the one it replaced.
func SummaryRelease(w io.Writer, target, current string) *lines.Writer {
	return &lines.Writer{MaxLine: MaxLine, Emit: func(line string) {
		ev, _, err := ParseEvent(line)
		if err != nil || ev.Type != EventSummary || ev.Release != "" {
			io.WriteString(w, line+"\n")
			return
		}
		ev.Release = target
		if ev.Failed > 0 {
			ev.Release = current
		}
		b, _ := json.Marshal(ev)
		w.Write(append(b, '\n'))
	}}
}
