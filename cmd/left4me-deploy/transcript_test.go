package main

import (
	"bytes"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/left4me/left4me-deploy/internal/transcript"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the transcripts in docs/ this package makes")

// TestTypoTranscript makes docs/remote.md's transcript of a mistyped verb:
// refused before any connection (the host does not exist).
func TestTypoTranscript(t *testing.T) {
	args := []string{"rolback", "root@game1"}
	var out, errb bytes.Buffer
	code := run(append([]string{"left4me-deploy"}, args...), strings.NewReader(""), &out, &errb)
	fresh := fmt.Sprintf("$ left4me-deploy %s\n%s%s(exit %d)\n", strings.Join(args, " "), out.String(), errb.String(), code)
	transcript.Check(t, "../../docs/remote.md", "remote-typo", fresh, *updateDocs)
}
