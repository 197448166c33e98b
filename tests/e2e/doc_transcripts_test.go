//go:build linux

package e2e

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/transcript"
)

// update rewrites the transcripts in docs/ from this run instead of
// comparing them (go test ./tests/e2e -run TestX -update).
var update = flag.Bool("update", false, "rewrite the transcripts in docs/ from this run")

// docPath is a document of the checkout.
func docPath(doc string) string { return filepath.Join(moduleRoot(), doc) }

// checkTranscript compares the block name of doc with fresh (package
// transcript), or rewrites it with -update.
func checkTranscript(t transcript.T, doc, name, fresh string, extra ...func(string) string) {
	t.Helper()
	transcript.Check(t, docPath(doc), name, fresh, *update, extra...)
}

// docCommands returns the commands of the transcript name in doc: its
// lines that start with "$ ", in order.
func docCommands(t fataler, doc, name string) []string {
	t.Helper()
	blocks, _, err := transcript.Parse(docPath(doc))
	if err != nil {
		t.Fatalf("read %s: %v", doc, err)
	}
	for _, b := range blocks {
		if b.Name != name {
			continue
		}
		var cmds []string
		for _, l := range strings.Split(b.Body, "\n") {
			if c, ok := strings.CutPrefix(l, "$ "); ok {
				cmds = append(cmds, c)
			}
		}
		if len(cmds) == 0 {
			t.Fatalf("transcript %s in %s has no $ lines", name, doc)
		}
		return cmds
	}
	t.Fatalf("no transcript %s in %s", name, doc)
	return nil
}

// runDocBlock runs the commands of the transcript name in doc on h as
// root, literally, one after the other, and returns the fresh transcript:
// each command after "$ ", its stdout, its stderr and, unless it exited 0,
// "(exit N)". A command that could not be run at all fails the check.
func runDocBlock(c *C, h *Host, doc, name string) string {
	c.Helper()
	var out strings.Builder
	for _, cmd := range docCommands(c, doc, name) {
		r := h.Run(context.Background(), cmd)
		if r.Code < 0 {
			c.Fatalf("transcript %s: %s", name, r)
		}
		fmt.Fprintf(&out, "$ %s\n%s%s", cmd, r.Stdout, r.Stderr)
		if r.Code != 0 {
			fmt.Fprintf(&out, "(exit %d)\n", r.Code)
		}
	}
	return out.String()
}

// TestTranscriptsHelpers keeps the helpers honest without a host: the
// commands of a block are exactly its $ lines.
func TestTranscriptsHelpers(t *testing.T) {
	cmds := docCommands(t, "docs/l4d2ctl.md", "l4d2ctl-by-hand")
	if len(cmds) < 5 || !strings.HasPrefix(cmds[0], "runuser -u left4me -- mkdir -p ") {
		t.Fatalf("docCommands(l4d2ctl-by-hand) = %q", cmds)
	}
}
