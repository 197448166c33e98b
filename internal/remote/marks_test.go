package remote

import (
	"regexp"
	"testing"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

// Every mark the host scripts send is one the protocol knows: a mark kind
// added to a script and not to internal/protocol would be refused.
func TestScriptMarksInProtocol(t *testing.T) {
	mark := regexp.MustCompile(`(?m)(?:\bsay |echo "L4M )([a-z]+)`)
	seen := 0
	for name, script := range map[string]string{"root.sh": rootScript, "escalate.sh": escalateScript} {
		for _, m := range mark.FindAllStringSubmatch(script, -1) {
			seen++
			line := "L4M " + m[1]
			switch protocol.MarkKind(m[1]) {
			case protocol.MarkHost:
				line += " Linux x86_64 amd64"
			case protocol.MarkNeed:
				line += " " + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			case protocol.MarkSudo, protocol.MarkNoSudo:
				line += " alice"
			case protocol.MarkUnsafe:
				line += " /x is a symbolic link"
			}
			if _, err := protocol.ParseMark(line); err != nil {
				t.Errorf("%s sends the mark %q: %v", name, m[1], err)
			}
		}
	}
	if seen < 8 {
		t.Errorf("found %d marks in the host scripts, want at least 8", seen)
	}
}
