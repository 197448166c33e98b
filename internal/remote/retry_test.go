package remote

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// WriteRetry removes its own list after a run where every host succeeded.
func TestRetryListRemovedAfterSuccess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "retry")
	tg, _ := ParseHost("root@a.example")
	failed := []Result{{Target: tg, NotRun: true}}
	if got, err := WriteRetry(file, "deploy", failed); err != nil || got != file {
		t.Fatalf("WriteRetry = %q, %v", got, err)
	}
	ok := []Result{{Target: tg, Summary: &protocol.Event{Type: protocol.EventSummary, OK: 1}}}
	if got, err := WriteRetry(file, "deploy", ok); err != nil || got != "" {
		t.Fatalf("WriteRetry after success = %q, %v", got, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the old retry list is still there: %v", err)
	}
}
