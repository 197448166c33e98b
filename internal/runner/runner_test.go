package runner

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

var syncMu sync.Mutex

type syncWriter struct{ w io.Writer }

func (s *syncWriter) Write(p []byte) (int, error) {
	syncMu.Lock()
	defer syncMu.Unlock()
	return s.w.Write(p)
}

func readSync(b *strings.Builder) string {
	syncMu.Lock()
	defer syncMu.Unlock()
	return b.String()
}

func TestExecFailureCarriesArgvAndStderr(t *testing.T) {
	err := Exec{}.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo boom >&2; exit 3"}})
	if err == nil {
		t.Fatal("Run(exit 3) = nil, want error")
	}
	if got := ExitCode(err); got != 3 {
		t.Fatalf("ExitCode = %d, want 3", got)
	}
	if !strings.Contains(err.Error(), "sh -c") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("error %q lacks argv or stderr", err)
	}
}

func TestOutput(t *testing.T) {
	out, err := Output(context.Background(), Exec{}, "echo", "hi")
	if err != nil || out != "hi\n" {
		t.Fatalf("Output(echo hi) = %q, %v", out, err)
	}
}

func TestFake(t *testing.T) {
	f := &Fake{Responses: map[string]FakeResponse{"a b": {Stdout: "x", Code: 1}}}
	out, err := Output(context.Background(), f, "a", "b")
	if out != "x" || ExitCode(err) != 1 {
		t.Fatalf("Fake(a b) = %q, %v", out, err)
	}
	if got := f.Commands(); len(got) != 1 || got[0] != "a b" {
		t.Fatalf("Commands() = %q", got)
	}
}

func TestCancelSendsSIGTERMFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- Exec{}.Run(ctx, Cmd{Argv: []string{"sh", "-c", `trap 'echo term; exit 7' TERM; echo ready; while :; do sleep 0.05; done`}, Stdout: &syncWriter{w: &out}})
	}()
	for i := 0; i < 200 && !strings.Contains(readSync(&out), "ready"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	err := <-done
	if !strings.Contains(readSync(&out), "term") {
		t.Fatalf("cancelled command did not see SIGTERM; output %q, err %v", readSync(&out), err)
	}
}

// TestExecStderrBounded: a command that writes without end on stderr
// costs the runner its tail bound; the error keeps the last bytes.
func TestExecStderrBounded(t *testing.T) {
	err := Exec{}.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' x >&2; echo last >&2; exit 3"}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("Run = %v, want exit 3", err)
	}
	if len(ee.Stderr) > MaxStderr+64 || !strings.HasSuffix(ee.Stderr, "xlast\n") || !strings.HasPrefix(ee.Stderr, "(") {
		t.Errorf("kept stderr of %d bytes, starting %q, ending %q; want the last %d bytes after a cut mark", len(ee.Stderr), ee.Stderr[:20], ee.Stderr[len(ee.Stderr)-10:], MaxStderr)
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		writes []string
		want   string
	}{
		{[]string{"ab", "c"}, "abc"},
		{[]string{"abcd", "ef"}, "(2 bytes cut)...cdef"},
		{[]string{"abcdefg"}, "(3 bytes cut)...defg"},
		{[]string{"ab", "abcdefg"}, "(5 bytes cut)...defg"},
	} {
		tl := &tail{max: 4}
		for _, w := range tc.writes {
			tl.Write([]byte(w))
		}
		if got := tl.String(); got != tc.want {
			t.Errorf("tail of %q = %q, want %q", tc.writes, got, tc.want)
		}
	}
}
