package remote

import (
	"strings"

	"github.com/left4me/left4me-deploy/steps"
)

// hostSideArgs are the flags of the status, rollback and release record
// features, passed to the plan on the host.
func (a ApplyFlags) hostSideArgs() []string {
	var out []string
	if a.By != "" {
		out = append(out, "--by", a.By)
	}
	if a.Status {
		out = append(out, "--status")
	}
	if a.Rollback {
		out = append(out, "--rollback")
	}
	return out
}

// noteRelease takes the release ID from the release step's log line
// ("release ID: VERSION commit ...", see deploy.Release.Describe).
func (r *Result) noteRelease(ev steps.Event) {
	if ev.Step != "release" {
		return
	}
	rest, ok := strings.CutPrefix(ev.Reason, "release ")
	if !ok {
		return
	}
	if id, _, ok := strings.Cut(rest, ":"); ok && id != "" && !strings.ContainsAny(id, " \t") {
		r.Release = id
	}
}
