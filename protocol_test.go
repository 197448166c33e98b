//go:build linux

package deploy

import (
	"slices"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// TestStepNamesInProtocol: the workstation refuses a step name outside
// protocol.StepNames, so every step of the plan and of the rendering must
// be in it.
func TestStepNamesInProtocol(t *testing.T) {
	for _, s := range append(plan(nil), renderPlan(nil)...) {
		if !slices.Contains(protocol.StepNames, s.Name()) {
			t.Errorf("step %q of the plan is not in protocol.StepNames: the workstation would refuse it", s.Name())
		}
	}
}
