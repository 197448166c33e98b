package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the retry lists of failing rollouts out of the source
// tree: every run (in-process, or a built binary the tests start) writes
// it into a temporary directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "left4me-deploy-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("LEFT4ME_DEPLOY_RETRY_FILE", filepath.Join(dir, "left4me-deploy.retry"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
