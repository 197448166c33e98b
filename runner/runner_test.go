package runner

import (
	"context"
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
