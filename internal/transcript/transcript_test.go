package transcript

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocs is the lint over the project's documents: every block that
// looks like a transcript is marked, and every marked block is made by a
// registered test (which compares it with a fresh run).
func TestDocs(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no documents under ../../docs: %v", err)
	}
	files = append(files, "../../README.md")
	problems, err := Lint(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestParse(t *testing.T) {
	doc := "# x\n\n<!-- transcript: a -->\n```\n$ echo hi\nhi\n```\n\n```\n$ unmarked\n```\n\n- item:\n\n  <!-- transcript: b -->\n  ```\n  $ ls\n  f\n  ```\n\n```sh\nmake test\n```\n<!-- transcript: c -->\ntext\n"
	p := filepath.Join(t.TempDir(), "d.md")
	os.WriteFile(p, []byte(doc), 0o644)
	blocks, problems, err := Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].Name != "a" || blocks[0].Body != "$ echo hi\nhi\n" || blocks[1].Name != "b" || blocks[1].Body != "$ ls\nf\n" {
		t.Fatalf("Parse blocks = %+v", blocks)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], ":9: a block that looks like a transcript") || !strings.Contains(problems[1], `marker "c" is not followed`) {
		t.Fatalf("Parse problems = %q", problems)
	}

	// A rewrite keeps the indentation and everything around the block.
	Registry["test-b"] = "TestParse"
	defer delete(Registry, "test-b")
	os.WriteFile(p, []byte(strings.Replace(doc, "transcript: b", "transcript: test-b", 1)), 0o644)
	ft := &fakeT{}
	Check(ft, p, "test-b", "$ ls\nf\ng\n", false)
	if len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "+ g") || !strings.Contains(ft.errs[0], "-update") {
		t.Fatalf("Check of a changed block = %q, want one error with the diff", ft.errs)
	}
	ft = &fakeT{}
	Check(ft, p, "test-b", "$ ls\nf\ng\n", true)
	got, _ := os.ReadFile(p)
	if want := strings.Replace(strings.Replace(doc, "transcript: b", "transcript: test-b", 1), "  f\n  ```", "  f\n  g\n  ```", 1); string(got) != want || len(ft.errs) != 0 {
		t.Fatalf("after -update (%q):\n%s\nwant:\n%s", ft.errs, got, want)
	}
	ft = &fakeT{}
	Check(ft, p, "test-b", "$ ls\nf\ng\n", false)
	if len(ft.errs) != 0 {
		t.Fatalf("Check after the update = %q", ft.errs)
	}
}

func TestMask(t *testing.T) {
	a := "release 6c9f1ed6a71961f5: v0.0.0-20261127101010-abcdefabcdef 2026-11-27 10:10 by root@127.0.0.1:36023 in 1.2s, kernel 6.18.44-fc-v669 mounts with method fd PID 4242"
	b := "release 0123456789abcdef: v0.0.0-20261204191919-0123456789ab 2026-12-04 19:19 by root@127.0.0.1:41000 in 350ms, kernel 6.1.0-28-amd64 mounts with method legacy PID 17"
	if Mask(a) != Mask(b) {
		t.Fatalf("Mask differs:\n%s\n%s", Mask(a), Mask(b))
	}
	for _, pair := range [][2]string{
		{"left4me-deploy (devel) commit unknown (go1.26.8)", "left4me-deploy v0.0.0-20261204194326-2a1576df4c5f commit 2a1576df4c5f (go1.27.1)"},
		{"localhost  in-sync  47136f63a7fd5412  (devel)  unknown  2026-12-04 19:28  0", "localhost  in-sync  0123456789abcdef  v0.0.0-20261204194326-2a1576df4c5f+dirty  2a1576df4c5f+dirty  2026-12-05 01:02  0"},
		{"h:   ship: sending left4me-deploy (6.0 MB)", "h:   ship: sending left4me-deploy (6.1 MB)"},
	} {
		if Mask(pair[0]) != Mask(pair[1]) {
			t.Errorf("Mask differs:\n%s\n%s", Mask(pair[0]), Mask(pair[1]))
		}
	}
	if Mask("changed=1") == Mask("changed=0") || Mask("exit 3") == Mask("exit 4") || Mask("sending l4d2ctl (2.6 MB)") == Mask("sending l4d2ctl-x (2.6 MB)") {
		t.Fatal("Mask hides counts, exit statuses or names")
	}
}

type fakeT struct{ errs []string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Logf(string, ...any)            {}
func (f *fakeT) Errorf(format string, a ...any) { f.errs = append(f.errs, fmtS(format, a...)) }

func fmtS(format string, a ...any) string { return fmt.Sprintf(format, a...) }
