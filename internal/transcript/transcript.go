// Package transcript keeps the command transcripts in docs/ true: each is
// a fenced block marked with
//
//	<!-- transcript: NAME -->
//
// on the line before it, and a test that runs the commands again compares
// its fresh output with the block (Check), with what changes from run to
// run masked (Mask). A block that looks like a transcript (a line starting
// with "$ " or "(on ") without a marker, a marker no test makes, or a
// registered name with no block fails the lint (Lint), so a transcript
// cannot be added or left behind unchecked.
package transcript

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Registry names every transcript and the test that makes it.
var Registry = map[string]string{
	"remote-typo":        "cmd/left4me-deploy TestTypoTranscript",
	"install-render":     "tests/e2e TestInstallTranscripts",
	"install-demo":       "tests/e2e TestInstallTranscripts",
	"install-hand-edits": "tests/e2e TestInstallTranscripts",
	"install-live":       "tests/e2e TestInstallTranscripts",
	"install-host":       "tests/e2e TestInstallTranscripts",
	"install-host-diff":  "tests/e2e TestInstallTranscripts",
	"l4d2ctl-by-hand":    "tests/e2e TestHostSide",
	"l4d2ctl-crash-loop": "tests/e2e TestHostSide",
	"ops-host-tool":      "tests/e2e TestHostSide",
	"ops-versions":       "tests/e2e TestTranscript",
	"ops-hosts":          "tests/e2e TestTranscript",
	"ops-canary":         "tests/e2e TestTranscript",
	"ops-max-fail":       "tests/e2e TestTranscript",
	"ops-releases":       "tests/e2e TestTranscript",
	"ops-status":         "tests/e2e TestTranscript",
	"ops-status-drift":   "tests/e2e TestTranscript",
	"ops-status-json":    "tests/e2e TestTranscript",
	"ops-status-down":    "tests/e2e TestTranscript",
	"ops-rollback":       "tests/e2e TestTranscript",
	"ops-web-down":       "tests/e2e TestHostSide",
}

// Block is one marked fenced block of a document.
type Block struct {
	Name string
	File string
	Line int    // of the marker, from 1
	Body string // between the fences, with its final newline
	// start and end are the byte offsets of Body in the file.
	start, end int
}

var markerRE = regexp.MustCompile(`^<!-- transcript: ([a-z0-9-]+) -->$`)

// Parse returns the marked blocks of the Markdown file at path, and a
// problem for every block that looks like a transcript but has no marker
// and every marker that is not followed by a fenced block.
func Parse(path string) ([]Block, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	text := string(data)
	var blocks []Block
	var problems []string
	lines := strings.SplitAfter(text, "\n")
	off := 0
	pending := "" // marker name waiting for its block
	pendingLine := 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\n")
		off += len(lines[i])
		if m := markerRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			if pending != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: marker %q is not followed by a fenced block", path, pendingLine, pending))
			}
			pending, pendingLine = m[1], i+1
			continue
		}
		fence := strings.TrimLeft(l, " ")
		if !strings.HasPrefix(fence, "```") {
			if pending != "" && strings.TrimSpace(l) != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: marker %q is not followed by a fenced block", path, pendingLine, pending))
				pending = ""
			}
			continue
		}
		indent := len(l) - len(fence)
		bodyStart := off
		j := i + 1
		bodyEnd := off
		for ; j < len(lines); j++ {
			if strings.HasPrefix(strings.TrimLeft(lines[j], " "), "```") {
				break
			}
			bodyEnd += len(lines[j])
		}
		body := text[bodyStart:bodyEnd]
		if pending != "" {
			blocks = append(blocks, Block{Name: pending, File: path, Line: pendingLine, Body: dedent(body, indent), start: bodyStart, end: bodyEnd})
		} else if Looks(body) {
			problems = append(problems, fmt.Sprintf("%s:%d: a block that looks like a transcript has no <!-- transcript: NAME --> marker", path, i+1))
		}
		pending = ""
		// Skip to the closing fence.
		for k := i + 1; k <= j && k < len(lines); k++ {
			off += len(lines[k])
		}
		i = j
	}
	if pending != "" {
		problems = append(problems, fmt.Sprintf("%s:%d: marker %q is not followed by a fenced block", path, pendingLine, pending))
	}
	return blocks, problems, nil
}

// Looks reports whether a fenced block's body looks like a transcript: a
// line that starts (after indentation) with a shell prompt "$ " or a
// remark "(on HOST".
func Looks(body string) bool {
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimLeft(l, " ")
		if strings.HasPrefix(l, "$ ") || strings.HasPrefix(l, "(on ") {
			return true
		}
	}
	return false
}

func dedent(body string, n int) string {
	if n == 0 {
		return body
	}
	lines := strings.SplitAfter(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, strings.Repeat(" ", n))
	}
	return strings.Join(lines, "")
}

// masks replace what differs between two honest runs: ports, release ids
// and checksums, commits and versions, times and durations, PIDs, kernel
// versions, temporary names, the sizes of the binaries sent.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[ _]\d\d:\d\d(:\d\d)?`), "TIME"},
	{regexp.MustCompile(`\b[A-Z][a-z]{2} [ \d]\d \d\d:\d\d(:\d\d)?\b`), "TIME"},
	{regexp.MustCompile(`\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) TIME`), "TIME"},
	{regexp.MustCompile(`\bby [a-z_][a-z0-9_-]*@[A-Za-z0-9_.:-]+`), "by USER@HOST"},
	{regexp.MustCompile(`v\d+\.\d+\.\d+-[0-9.]*\d{14}-[0-9a-f]{12}(\+dirty)?`), "VERSION"},
	// A build outside a git checkout (a worktree) has no version.
	{regexp.MustCompile(`\(devel\)`), "VERSION"},
	{regexp.MustCompile(`commit unknown`), "commit HEX"},
	{regexp.MustCompile(`\b[0-9a-f]{12,64}\b(\+dirty)?`), "HEX"},
	{regexp.MustCompile(`(VERSION +)unknown\b`), "${1}HEX"},
	{regexp.MustCompile(`\(go1\.\d+(\.\d+)?\)`), "(GO)"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`(-p |port |Port )\d{2,5}\b`), "${1}PORT"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m)\b`), "DURATION"},
	{regexp.MustCompile(`\b(\d+m)?\d+(\.\d+)?s\b`), "DURATION"},
	{regexp.MustCompile(`(PID |pid |PID: |Process: |\[)\d+(\]?)`), "${1}N$2"},
	// The mount method follows the kernel (docs/kernels.md).
	{regexp.MustCompile(`kernel \S+ mounts with method \S+`), "kernel KERNEL mounts with method METHOD"},
	{regexp.MustCompile(`kernel \S+`), "kernel KERNEL"},
	{regexp.MustCompile(`(\.tmp-|staging\.|\.in\.)[A-Za-z0-9]+`), "${1}X"},
	{regexp.MustCompile(`l4me-e2e-\d+-\d+-`), "l4me-e2e-N-N-"},
	// A binary's size follows the code and the Go release that built it.
	{regexp.MustCompile(`(sending [a-z0-9-]+ \()\d+(\.\d+)? (B|KB|MB|GB)\)`), "${1}SIZE)"},
	{regexp.MustCompile(`"elapsed_ms":\d+`), `"elapsed_ms":N`},
	{regexp.MustCompile(`"duration_ms":\d+`), `"duration_ms":N`},
	// Column widths follow the masked values.
	{regexp.MustCompile(`[ \t]{2,}`), " "},
}

// Mask replaces everything in s that differs from one honest run to the
// next with a fixed word.
func Mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// T is the part of *testing.T that Check needs.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

var mu sync.Mutex // one rewrite of a document at a time

// Check compares the block NAME of the document at path with fresh, both
// masked (Mask, then each of extra), and fails t with a line diff when they
// differ. With update it writes fresh into the document instead.
func Check(t T, path, name, fresh string, update bool, extra ...func(string) string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if _, ok := Registry[name]; !ok {
		t.Errorf("transcript %q is not in transcript.Registry", name)
		return
	}
	blocks, _, err := Parse(path)
	if err != nil {
		t.Errorf("transcript %s: %v", name, err)
		return
	}
	if !strings.HasSuffix(fresh, "\n") {
		fresh += "\n"
	}
	for _, b := range blocks {
		if b.Name != name {
			continue
		}
		mask := func(s string) string {
			s = Mask(s)
			for _, f := range extra {
				s = f(s)
			}
			return s
		}
		if mask(b.Body) == mask(fresh) {
			return
		}
		if update {
			if err := rewrite(path, b, fresh); err != nil {
				t.Errorf("update transcript %s in %s: %v", name, path, err)
			} else {
				t.Logf("updated transcript %s in %s", name, path)
			}
			return
		}
		t.Errorf("transcript %s (%s:%d) differs from a fresh run (masked; - doc, + fresh); rerun with -update to rewrite it:\n%s",
			name, path, b.Line, Diff(mask(b.Body), mask(fresh)))
		return
	}
	t.Errorf("no block marked <!-- transcript: %s --> in %s", name, path)
}

// rewrite replaces block b's body in the file with body, indented as the
// block is.
func rewrite(path string, b Block, body string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// The fence's indentation: the spaces before it on its line.
	fenceLineStart := strings.LastIndex(string(data[:b.start-1]), "\n") + 1
	indent := len(data[fenceLineStart:b.start-1]) - len(strings.TrimLeft(string(data[fenceLineStart:b.start-1]), " "))
	if indent > 0 {
		lines := strings.SplitAfter(body, "\n")
		for i, l := range lines {
			if l != "" && l != "\n" {
				lines[i] = strings.Repeat(" ", indent) + l
			}
		}
		body = strings.Join(lines, "")
	}
	out := string(data[:b.start]) + body + string(data[b.end:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Lint checks the documents: every transcript-looking block is marked,
// every marker is registered and used once, and every registered name has
// its block. It returns the problems, sorted.
func Lint(files []string) ([]string, error) {
	var problems []string
	seen := map[string]string{}
	for _, f := range files {
		blocks, p, err := Parse(f)
		if err != nil {
			return nil, err
		}
		problems = append(problems, p...)
		for _, b := range blocks {
			where := fmt.Sprintf("%s:%d", filepath.Base(b.File), b.Line)
			if _, ok := Registry[b.Name]; !ok {
				problems = append(problems, fmt.Sprintf("%s: transcript %q is made by no test (add it to transcript.Registry with the test that checks it)", where, b.Name))
			}
			if prev, dup := seen[b.Name]; dup {
				problems = append(problems, fmt.Sprintf("%s: transcript %q is marked twice (also %s)", where, b.Name, prev))
			}
			seen[b.Name] = where
		}
	}
	for name, test := range Registry {
		if _, ok := seen[name]; !ok {
			problems = append(problems, fmt.Sprintf("transcript %q (made by %s) has no marked block in the documents", name, test))
		}
	}
	sort.Strings(problems)
	return problems, nil
}

// Diff is a short line diff of a and b: the lines only in a with "-", only
// in b with "+", in order (a longest-common-subsequence diff).
func Diff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j++
		default:
			out.WriteString("- " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}
