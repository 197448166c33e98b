package migrate

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// Kind names one sort of change the migration makes.
type Kind string

// The kinds of change, in the order the report lists them.
const (
	// KindWhiteout: a fallback whiteout ".wh.NAME" became a 0/0 char device NAME.
	KindWhiteout Kind = "whiteout"
	// KindOpaque: a directory got trusted.overlay.opaque=y.
	KindOpaque Kind = "opaque"
	// KindMarker: a fuse-overlayfs marker (".wh..wh..opq", ".wh..opq",
	// a converted ".wh.NAME") was removed.
	KindMarker Kind = "marker"
	// KindOpaqueWhiteout: a 0/0 whiteout inside an opaque directory was
	// removed. It hides nothing there (the opacity does), but kernel
	// overlayfs lists it as a name that cannot be looked up; fuse-overlayfs
	// before 1.7 left such whiteouts (its issue #306).
	KindOpaqueWhiteout Kind = "opaque-whiteout"
	// KindXattr: a fuse-overlayfs xattr (user.fuseoverlayfs.*,
	// user.containers.override_stat) was removed.
	KindXattr Kind = "xattr"
	// KindOwner: an override_stat owner/mode was applied to the entry.
	KindOwner Kind = "owner"
	// KindWork: work/ was replaced by a fresh empty directory.
	KindWork Kind = "work"
	// KindUpperReset: upper/ was moved aside and replaced (--reset-upper).
	KindUpperReset Kind = "upper-reset"
)

var kindOrder = []Kind{KindWhiteout, KindOpaque, KindMarker, KindOpaqueWhiteout, KindXattr, KindOwner, KindWork, KindUpperReset}

// Change is one change to one path (a host path, also with --root).
type Change struct {
	Kind   Kind   `json:"kind"`
	Path   string `json:"path"`
	Detail string `json:"detail,omitempty"`
}

// The report's detail is bounded, whatever the tree: the owner of the
// tree chooses how many entries, how deep and how long their names are,
// and a report that lists every path in full grows with the square of the
// depth. The counts stay exact; what is not listed is counted in
// InstanceReport.Omitted and WarningsOmitted, and Report.Truncated says so.
const (
	// MaxListedPerKind is how many changes of one kind are listed per
	// instance.
	MaxListedPerKind = 100
	// MaxListed is how many changes and warnings are listed in all.
	MaxListed = 1000
	// MaxShownPath is the longest path or warning listed; a longer one
	// keeps its start and end around an "...[N bytes]..." marker.
	MaxShownPath = 1024
)

// InstanceReport says what the migration did to one instance.
type InstanceReport struct {
	Name string `json:"name"`
	// Counts holds the number of changes by kind, exact.
	Counts map[Kind]int `json:"counts"`
	// Changes lists the changes with their paths: at most
	// MaxListedPerKind of each kind (MaxListed in the whole report), each
	// path at most MaxShownPath bytes.
	Changes []Change `json:"changes,omitempty"`
	// Omitted counts, by kind, the changes not listed in Changes.
	Omitted map[Kind]int `json:"omitted,omitempty"`
	// Warnings are entries left alone on purpose (a mount point inside
	// upper/, an override_stat that was not applied, ...).
	Warnings []string `json:"warnings,omitempty"`
	// WarningsOmitted counts the warnings not listed.
	WarningsOmitted int `json:"warnings_omitted,omitempty"`
	// MovedAside is the host path the old upper was moved to (--reset-upper).
	MovedAside string `json:"moved_aside,omitempty"`
}

// record counts a change to ir and lists it while the limits allow; path
// is rendered only then.
func (r *Report) record(ir *InstanceReport, k Kind, path fmt.Stringer, detail string) {
	if ir.Counts == nil {
		ir.Counts = map[Kind]int{}
	}
	listed := ir.Counts[k] - ir.Omitted[k]
	ir.Counts[k]++
	if listed >= MaxListedPerKind || r.listed >= MaxListed {
		if ir.Omitted == nil {
			ir.Omitted = map[Kind]int{}
		}
		ir.Omitted[k]++
		r.Truncated = true
		return
	}
	r.listed++
	ir.Changes = append(ir.Changes, Change{Kind: k, Path: shorten(path.String()), Detail: shorten(detail)})
}

// warn adds a warning to ir while the limits allow; args are formatted
// only then.
func (r *Report) warn(ir *InstanceReport, format string, args ...any) {
	if len(ir.Warnings) >= MaxListedPerKind || r.listed >= MaxListed {
		ir.WarningsOmitted++
		r.Truncated = true
		return
	}
	r.listed++
	ir.Warnings = append(ir.Warnings, shorten(fmt.Sprintf(format, args...)))
}

func (ir *InstanceReport) warn(format string, args ...any) {
	ir.Warnings = append(ir.Warnings, fmt.Sprintf(format, args...))
}

// Total is the number of changes to the instance.
func (ir *InstanceReport) Total() int {
	n := 0
	for _, c := range ir.Counts {
		n += c
	}
	return n
}

// shorten keeps s if it is at most MaxShownPath bytes long, and otherwise
// its start and end around a marker saying how much was left out.
func shorten(s string) string {
	if len(s) <= MaxShownPath {
		return s
	}
	keep := MaxShownPath / 2
	return s[:keep] + fmt.Sprintf("...[%d bytes]...", len(s)-2*keep) + s[len(s)-keep:]
}

// relPath is a directory inside an upper dir as a chain of names, nil for
// the upper dir itself. A walk keeps one node per directory it has open,
// never a full path string per entry: in a deep chain of long names those
// would add up to the square of the depth.
type relPath struct {
	parent *relPath
	name   string
	size   int // length of the path relative to the upper dir
}

func (r *relPath) child(name string) *relPath {
	c := &relPath{parent: r, name: name, size: len(name)}
	if r != nil {
		c.size += r.size + 1
	}
	return c
}

// entryPath is the host path of entry name ("" for the directory itself)
// of directory dir in the upper dir at host. String renders it, shortened
// like shorten without building the whole path first.
type entryPath struct {
	host string
	dir  *relPath
	name string
}

func (p entryPath) String() string {
	n := len(p.host)
	if p.dir != nil {
		n += 1 + p.dir.size
	}
	if p.name != "" {
		n += 1 + len(p.name)
	}
	// The names from the top down; only the first and last MaxShownPath/2
	// bytes are needed for a long path, but the chain is walked bottom up.
	var names []string
	for d := p.dir; d != nil; d = d.parent {
		names = append(names, d.name)
	}
	var b strings.Builder
	limit := n
	if n > MaxShownPath {
		limit = MaxShownPath / 2
	}
	add := func(s string) bool { // false once the head is full
		if room := limit - b.Len(); len(s) > room {
			b.WriteString(s[:room])
			return false
		}
		b.WriteString(s)
		return b.Len() < limit
	}
	ok := add(p.host)
	for i := len(names) - 1; ok && i >= 0; i-- {
		ok = add("/") && add(names[i])
	}
	if ok && p.name != "" {
		_ = add("/") && add(p.name)
	}
	if n <= MaxShownPath {
		return b.String()
	}
	// The end: the last MaxShownPath/2 bytes, from the bottom up.
	tail := make([]byte, 0, MaxShownPath/2)
	prepend := func(s string) bool {
		room := MaxShownPath/2 - len(tail)
		if len(s) >= room {
			tail = append([]byte(s[len(s)-room:]), tail...)
			return false
		}
		tail = append([]byte(s), tail...)
		return true
	}
	ok = true
	if p.name != "" {
		ok = prepend(p.name) && prepend("/")
	}
	for d := p.dir; ok && d != nil; d = d.parent {
		ok = prepend(d.name) && prepend("/")
	}
	if ok {
		prepend(p.host)
	}
	return b.String() + fmt.Sprintf("...[%d bytes]...", n-2*(MaxShownPath/2)) + string(tail)
}

// plainPath is a path that is already a string.
type plainPath string

func (p plainPath) String() string { return string(p) }

// Unmount is one mount the migration took down (or would take down).
type Unmount struct {
	Path   string `json:"path"`
	FSType string `json:"fstype"`
	// Lazy is true when the mount stayed busy and was detached (MNT_DETACH)
	// as a last resort.
	Lazy bool `json:"lazy,omitempty"`
}

// Services says which units the migration stopped and started again, or
// (dry run, --root) would have.
type Services struct {
	// Made is false when the stops and starts were only reported.
	Made  bool     `json:"made"`
	Stop  []string `json:"stop,omitempty"`
	Start []string `json:"start,omitempty"`
	// Mount lists the instances whose overlays are mounted before their
	// game servers start again.
	Mount []string `json:"mount,omitempty"`
	// Failed lists the units that did not come back after the conversion
	// (which itself is done), each with the reason.
	Failed []UnitFailure `json:"failed,omitempty"`
	Note   string        `json:"note,omitempty"`
}

// UnitFailure is a unit the migration could not start again, and why.
type UnitFailure struct {
	Unit  string `json:"unit"`
	Error string `json:"error"`
}

// Report says what a run changed (or, in dry-run, would change).
type Report struct {
	// Skipped is true when the sentinel was present and nothing was touched.
	Skipped bool `json:"skipped"`
	DryRun  bool `json:"dry_run"`
	// Root is the --root prefix, empty on the host.
	Root      string           `json:"root,omitempty"`
	Services  Services         `json:"services"`
	Unmounts  []Unmount        `json:"unmounts,omitempty"`
	Instances []InstanceReport `json:"instances"`
	// Sentinel is true when the run wrote (or would write) the sentinel.
	Sentinel bool `json:"sentinel"`
	// ReportFile is the host path the report was kept at.
	ReportFile string `json:"report_file,omitempty"`
	// Error is set when the run failed part way; running again finishes it.
	Error string `json:"error,omitempty"`
	// Truncated is true when changes or warnings were left out of the
	// lists (see MaxListedPerKind); the counts are exact all the same.
	Truncated bool `json:"truncated,omitempty"`

	listed int // changes and warnings listed so far
}

// Changed reports whether the run changed (or would change) anything.
func (r *Report) Changed() bool {
	if r == nil || r.Skipped {
		return false
	}
	if r.Sentinel || len(r.Unmounts) > 0 {
		return true
	}
	for i := range r.Instances {
		if r.Instances[i].Total() > 0 {
			return true
		}
	}
	return false
}

// Totals adds up the per-instance counts.
func (r *Report) Totals() map[Kind]int {
	t := map[Kind]int{}
	for i := range r.Instances {
		for k, n := range r.Instances[i].Counts {
			t[k] += n
		}
	}
	return t
}

func countsString(c map[Kind]int) string {
	var parts []string
	for _, k := range kindOrder {
		if n := c[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, n))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, " ")
}

// Summary is a one-line description for the installer's step line.
func (r *Report) Summary() string {
	if r == nil || r.Skipped {
		return "sentinel present, nothing to do"
	}
	verb := "migrated"
	if r.DryRun {
		verb = "would migrate"
	}
	s := fmt.Sprintf("%s %d instance(s): %s", verb, len(r.Instances), countsString(r.Totals()))
	if n := len(r.Unmounts); n > 0 {
		s += fmt.Sprintf("; %d mount(s) taken down", n)
	}
	return s
}

// WriteText prints the report for a person: the summary, services, mounts,
// and per instance its counts and warnings; with verbose every change.
// Names and paths come from the hostile tree: every line is made printable
// as a whole (textsafe.Line), so each is exactly one line on the terminal.
func (r *Report) WriteText(w io.Writer, verbose bool) {
	pr := func(format string, args ...any) {
		fmt.Fprintln(w, textsafe.Line(fmt.Sprintf(format, args...)))
	}
	pr("%s", r.Summary())
	if r.Skipped {
		return
	}
	sv := r.Services
	stopVerb, startVerb, mountVerb := "stopped", "started again", "mounted"
	switch {
	case !sv.Made:
		stopVerb, startVerb, mountVerb = "would stop", "would start again", "would mount"
	case r.Error != "":
		// The conversion failed: the units stay stopped until a rerun.
		startVerb, mountVerb = "left stopped, to start after a rerun:", "would mount"
	}
	if len(sv.Stop) > 0 {
		pr("services: %s %s", stopVerb, strings.Join(sv.Stop, " "))
	}
	if len(sv.Mount) > 0 {
		pr("services: %s the overlays of %s before their servers start", mountVerb, strings.Join(sv.Mount, " "))
	}
	failed := map[string]bool{}
	for _, f := range sv.Failed {
		failed[f.Unit] = true
	}
	var started []string
	for _, u := range sv.Start {
		if !failed[u] {
			started = append(started, u)
		}
	}
	if len(started) > 0 {
		pr("services: %s %s", startVerb, strings.Join(started, " "))
	}
	for _, f := range sv.Failed {
		pr("services: not started again: %s: %s", textsafe.Quote(f.Unit), textsafe.Field(f.Error))
	}
	if r.Services.Note != "" {
		pr("services: %s", r.Services.Note)
	}
	for _, u := range r.Unmounts {
		lazy := ""
		if u.Lazy {
			lazy = " (busy: detached lazily)"
		}
		pr("unmount %s %s%s", textsafe.Quote(u.FSType), textsafe.Quote(u.Path), lazy)
	}
	for _, ir := range r.Instances {
		pr("instance %s: %s", textsafe.Quote(ir.Name), countsString(ir.Counts))
		if ir.MovedAside != "" {
			pr("  old upper kept at %s", textsafe.Quote(ir.MovedAside))
		}
		for _, wn := range ir.Warnings {
			pr("  warning: %s", textsafe.Field(wn))
		}
		if len(ir.Omitted) > 0 || ir.WarningsOmitted > 0 {
			omitted := countsString(ir.Omitted)
			if len(ir.Omitted) == 0 {
				omitted = "no changes"
			}
			pr("  not listed: %s, %d warning(s) (the counts above are exact)", omitted, ir.WarningsOmitted)
		}
		if verbose {
			for _, c := range ir.Changes {
				if c.Detail != "" {
					pr("  %-11s %s (%s)", c.Kind, textsafe.Quote(c.Path), textsafe.Field(c.Detail))
				} else {
					pr("  %-11s %s", c.Kind, textsafe.Quote(c.Path))
				}
			}
		}
	}
	if r.Truncated {
		pr("report truncated: it lists at most %d changes of each kind and %d warnings per instance, %d entries in all, and paths shortened to %d bytes; the counts are exact", MaxListedPerKind, MaxListedPerKind, MaxListed, MaxShownPath)
	}
	if r.ReportFile != "" {
		pr("report kept at %s", r.ReportFile)
	}
}

// JSON renders the report, every path included, in a stable form.
func (r *Report) JSON() ([]byte, error) {
	for i := range r.Instances {
		if r.Instances[i].Counts == nil {
			r.Instances[i].Counts = map[Kind]int{}
		}
	}
	sort.Slice(r.Instances, func(i, j int) bool { return r.Instances[i].Name < r.Instances[j].Name })
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
