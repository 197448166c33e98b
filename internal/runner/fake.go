package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Fake is a Runner for unit tests. It records every argv and answers from
// Responses, keyed by the space-joined argv; unknown commands succeed with no
// output unless Strict is set.
type Fake struct {
	mu        sync.Mutex
	Calls     [][]string
	Responses map[string]FakeResponse
	Strict    bool
}

// FakeResponse is the canned result of one command.
type FakeResponse struct {
	Stdout string
	Stderr string
	Code   int // non-zero makes Run return an *ExitError
}

// Run implements Runner.
func (f *Fake) Run(_ context.Context, c Cmd) error {
	f.mu.Lock()
	f.Calls = append(f.Calls, append([]string(nil), c.Argv...))
	resp, ok := f.Responses[strings.Join(c.Argv, " ")]
	f.mu.Unlock()
	if !ok && f.Strict {
		return &ExitError{Argv: c.Argv, Code: 127, Err: fmt.Errorf("fake: unexpected command")}
	}
	if c.Stdout != nil {
		io.WriteString(c.Stdout, resp.Stdout)
	}
	if c.Stderr != nil {
		io.WriteString(c.Stderr, resp.Stderr)
	}
	if resp.Code != 0 {
		return &ExitError{Argv: c.Argv, Stderr: resp.Stderr, Code: resp.Code, Err: fmt.Errorf("exit status %d", resp.Code)}
	}
	return nil
}

// Commands returns the recorded argvs, each joined with spaces.
func (f *Fake) Commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		out[i] = strings.Join(c, " ")
	}
	return out
}
