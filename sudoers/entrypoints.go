package sudoers

import (
	"bytes"
	"fmt"
	"text/template"

	_ "embed"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/svchelper"
)

// OverlayVerbs are the verbs of left4me-overlay that sudo grants, each
// through its own entry point.
var OverlayVerbs = []string{"mount", "umount"}

// Entry is one program the rules grant.
type Entry struct {
	// Path is the program sudo grants (host path).
	Path string
	// Helper and Verb are what it runs: Helper Verb NAME. Verb is empty for
	// left4me-journalctl, which sudo grants itself (it has no verbs).
	Helper, Verb string
	// NoName marks the one entry point that takes no argument at all:
	// left4me-systemctl-list-units (svchelper.ListUnits).
	NoName bool
}

// Entries returns every program the rules for p grant, overlay entry points
// first, then the systemctl ones, then the journal helper: the order of the
// rendered rules.
func Entries(p Params) []Entry {
	var out []Entry
	for _, v := range OverlayVerbs {
		out = append(out, Entry{Path: hostpath.EntryPoint(p.OverlayHelper, v), Helper: p.OverlayHelper, Verb: v})
	}
	for _, v := range svchelper.Verbs {
		out = append(out, Entry{Path: hostpath.EntryPoint(p.SystemctlHelper, v), Helper: p.SystemctlHelper, Verb: v})
	}
	out = append(out, Entry{Path: hostpath.EntryPoint(p.SystemctlHelper, svchelper.ListUnits),
		Helper: p.SystemctlHelper, Verb: svchelper.ListUnits, NoName: true})
	return append(out, Entry{Path: p.JournalHelper, Helper: p.JournalHelper})
}

// EntryPoints returns the entries that are entry points (files the deploy
// installs), without the journal helper.
func EntryPoints(p Params) []Entry {
	var out []Entry
	for _, e := range Entries(p) {
		if e.Verb != "" {
			out = append(out, e)
		}
	}
	return out
}

//go:embed entrypoint.sh.tmpl
var entryText string

var entryTmpl = template.Must(template.New("entrypoint").Option("missingkey=error").Parse(entryText))

// Script returns the program installed at e.Path: a POSIX sh script that
// refuses anything but exactly one argument (none for a NoName entry) and
// then replaces itself with "e.Helper e.Verb ARG" ("e.Helper e.Verb"). The helper validates the name. Render's checks on
// the paths apply (Script panics on an entry that is not an entry point).
func Script(e Entry) ([]byte, error) {
	if e.Verb == "" {
		panic("sudoers.Script: " + e.Path + " is not an entry point")
	}
	for _, p := range []string{e.Path, e.Helper} {
		if err := checkPath(p); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if err := entryTmpl.Execute(&b, e); err != nil {
		return nil, fmt.Errorf("render entry point %s: %w", e.Path, err)
	}
	return b.Bytes(), nil
}
