package release

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
)

func rec(id, kind string) Release { return Release{ID: id, Kind: kind, Version: "v-" + id} }

func TestPrevious(t *testing.T) {
	d, r := KindDeploy, KindRollback
	cases := []struct {
		name        string
		hist        []Release
		target, cur string // "" target: ErrNoPrevious
	}{
		{"empty", nil, "", ""},
		{"one deploy", []Release{rec("A", d)}, "", "A"},
		{"same release twice (a repaired hand edit)", []Release{rec("A", d), rec("A", d)}, "", "A"},
		{"A then B", []Release{rec("A", d), rec("B", d)}, "A", "B"},
		{"after a rollback the same target again", []Release{rec("A", d), rec("B", d), rec("A", r)}, "A", "B"},
		{"a repair of B between", []Release{rec("A", d), rec("B", d), rec("B", d)}, "A", "B"},
		{"deploy C after a rollback goes back to what C replaced", []Release{rec("A", d), rec("B", d), rec("A", r), rec("C", d)}, "A", "C"},
		{"old records without kind count as deploys", []Release{rec("A", ""), rec("B", "")}, "A", "B"},
		{"only rollbacks", []Release{rec("A", r)}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target, cur, err := Previous(c.hist)
			if c.target == "" {
				if !errors.Is(err, ErrNoPrevious) {
					t.Fatalf("Previous(%s) = %v, %v, want ErrNoPrevious", c.name, target.ID, err)
				}
				if cur.ID != c.cur {
					t.Errorf("Previous(%s) current = %q, want %q", c.name, cur.ID, c.cur)
				}
				return
			}
			if err != nil || target.ID != c.target || cur.ID != c.cur {
				t.Fatalf("Previous(%s) = %q, %q, %v; want %q, %q", c.name, target.ID, cur.ID, err, c.target, c.cur)
			}
		})
	}
}

// The history keeps the newest HistoryLength lines, in order, root-only.
func TestAppendBounded(t *testing.T) {
	root := hostpath.Root(t.TempDir())
	if err := os.MkdirAll(root.Join(StateDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < HistoryLength+5; i++ {
		r := rec(strings.Repeat(string(rune('a'+i)), 4), KindDeploy)
		r.Time = time.Unix(int64(i), 0).UTC()
		if err := Append(root, r); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := ReadHistory(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != HistoryLength || hist[0].ID != "ffff" || hist[len(hist)-1].ID != "oooo" {
		t.Fatalf("history after %d appends: %d records from %s to %s, want %d from ffff to oooo", HistoryLength+5, len(hist), hist[0].ID, hist[len(hist)-1].ID, HistoryLength)
	}
	fi, err := os.Stat(root.Join(HistoryFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file mode %v (%v), want 0600", fi.Mode(), err)
	}
	last, err := Last(root)
	if err != nil || last.ID != "oooo" {
		t.Fatalf("Last = %+v, %v", last, err)
	}
	// No temporary files are left next to it.
	entries, _ := os.ReadDir(filepath.Dir(root.Join(HistoryFile)))
	if len(entries) != 1 {
		t.Fatalf("%d entries in %s, want only the history", len(entries), StateDir)
	}
}

func TestReadHistoryErrors(t *testing.T) {
	root := hostpath.Root(t.TempDir())
	if hist, err := ReadHistory(root); err != nil || hist != nil {
		t.Fatalf("ReadHistory of a fresh host = %v, %v; want none", hist, err)
	}
	os.MkdirAll(root.Join(StateDir), 0o700)
	os.WriteFile(root.Join(HistoryFile), []byte(`{"id":"a"}`+"\n{broken\n"), 0o600)
	if _, err := ReadHistory(root); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("ReadHistory of a broken line = %v, want an error naming line 2", err)
	}
}

func TestContentIDStable(t *testing.T) {
	a := ContentID(map[string]string{"/x": "1", "/y": "2"})
	b := ContentID(map[string]string{"/y": "2", "/x": "1"})
	c := ContentID(map[string]string{"/x": "1", "/y": "3"})
	if a != b || a == c || len(a) != 16 {
		t.Fatalf("ContentID: %s %s %s", a, b, c)
	}
}
