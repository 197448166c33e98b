package daytwo

import (
	"strings"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// Result is the verdict on one host's status report.
type Result string

// The results, from best to worst as the exit status ranks them: a host
// that cannot be inspected outranks one unlike its record, which outranks
// drift.
const (
	InSync   Result = "in-sync"  // it runs what a deploy would install, and its web app
	Drift    Result = "drift"    // a deploy would change something
	Diverged Result = "diverged" // it does not run what its units and its newest release record say
	Failed   Result = "failed"   // unreachable, could not be inspected, or its web app is not active
)

// Exit statuses of status, for monitoring jobs (docs/operations.md).
const (
	ExitInSync     = 0 // every host in sync
	ExitDrift      = 3 // drift on a host
	ExitHostFailed = 4 // a host failed (Failed)
	ExitDiverged   = 5 // a host unlike its own record
)

// Judge is the verdict on one host: st is its report (nil if none came),
// hostErr why it could not report ("" if it did).
func Judge(st *protocol.HostStatus, hostErr string) Result {
	switch {
	case hostErr != "" || st == nil || len(st.Failed) > 0:
		return Failed
	case WebDown(st):
		return Failed
	case st.Recorded != nil && !st.Recorded.Matches:
		return Diverged
	case len(st.Drift) > 0:
		return Drift
	}
	return InSync
}

// WebDown says whether the report names a web app that is not active. A
// run that did not inspect services (under --root) says "unknown
// (services not inspected ...)", which is not a failure.
func WebDown(st *protocol.HostStatus) bool {
	return st.Web != "active" && !strings.HasPrefix(st.Web, "unknown (services not inspected")
}

// Exit sums up the results of every host as status's exit status: the
// worst result wins.
func Exit(results []Result) int {
	code := ExitInSync
	for _, r := range results {
		switch r {
		case Failed:
			code = ExitHostFailed
		case Diverged:
			if code != ExitHostFailed {
				code = ExitDiverged
			}
		case Drift:
			if code == ExitInSync {
				code = ExitDrift
			}
		}
	}
	return code
}
