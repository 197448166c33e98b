package main

import (
	"testing"

	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// hostBundle is the release bundle the SSH tests ship.
func hostBundle(t *testing.T) string {
	return sshdtest.FakePlanBundle(t)
}
