package steps

import (
	"strings"
	"testing"
)

// hostile is a name from the hostile tree: it clears the screen, returns
// the cursor and starts a line that looks like the migration's step line.
const hostile = "a\x1b[2J\r\nok       migration: migrated 0 instance(s)"

// TestTextFormatEscapesHostileText: a reason, a log line or a diff that
// carries a hostile name prints as exactly one escaped line per event (per
// diff line), with no control character, so nothing can forge a step line.
func TestTextFormatEscapesHostileText(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     Event
		want  string
		lines int
	}{
		{"step reason", Event{Type: "step", Step: "migration", Status: StatusFailed, Reason: "migrate: instance " + hostile},
			`failed   migration: migrate: instance a\x1b[2J\r\nok\x20\x20\x20\x20\x20\x20\x20migration: migrated 0 instance(s)` + "\n", 1},
		{"log", Event{Type: "log", Step: "migration", Reason: "skipping " + hostile},
			`         migration: skipping a\x1b[2J\r\nok\x20\x20\x20\x20\x20\x20\x20migration: migrated 0 instance(s)` + "\n", 1},
		{"unknown type", Event{Type: "other", Reason: hostile}, "", 1},
		// A unified diff prefixes every line; a carriage return in a line
		// must not let the text after it overwrite the prefix.
		{"diff", Event{Type: "diff", Diff: "-x\n+a\x1b[2J\rok       migration: forged\n"}, "-x\n" + `+a\x1b[2J\rok       migration: forged` + "\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatText(tc.e)
			if tc.want != "" && got != tc.want {
				t.Errorf("FormatText = %q, want %q", got, tc.want)
			}
			if strings.ContainsAny(got, "\x1b\r") {
				t.Errorf("FormatText = %q: holds a control character", got)
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != tc.lines {
				t.Errorf("FormatText = %q: %d lines, want %d", got, len(lines), tc.lines)
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "ok") {
					t.Errorf("FormatText = %q: line %q reads as a step line", got, l)
				}
			}
		})
	}
}
