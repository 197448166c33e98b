package remote

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/sshdtest"
)

// stuckConn is a host that never answers: every command waits until its
// context ends, as a status parked behind a dead FUSE daemon or a hung
// sshd would.
type stuckConn struct{}

func (stuckConn) Run(ctx context.Context, _ string, _ io.Reader, _, _ io.Writer) error {
	<-ctx.Done()
	return ctx.Err()
}
func (stuckConn) Lost() bool   { return false }
func (stuckConn) Close() error { return nil }

// A host that does not finish within HostTimeout fails with ErrHostTimeout,
// naming itself and what it was doing; the other hosts are not held up
// and keep their own results.
func TestHostTimeout(t *testing.T) {
	bundle, err := OpenBundle(sshdtest.FakePlanBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	d := &Deployer{
		Source:      bundle,
		Args:        protocol.HostArgs{Verb: protocol.VerbStatus},
		Parallel:    2,
		Out:         &Printer{W: &out, ErrW: io.Discard},
		HostTimeout: 300 * time.Millisecond,
		Dial: func(_ context.Context, _ string, t Target, _ string) (Conn, error) {
			if t.Spec == "root@stuck" {
				return stuckConn{}, nil
			}
			return &sshdtest.ScriptedConn{Code: 1, Stderr: "no such host\n"}, nil
		},
	}
	stuck, _ := ParseTarget("root@stuck")
	other, _ := ParseTarget("root@other")
	// The caller's own context has no deadline: only HostTimeout ends it.
	res := d.Deploy(context.Background(), []Target{stuck, other})
	if len(res) != 2 {
		t.Fatalf("Deploy = %d results, want 2", len(res))
	}
	if err := res[0].Err; !errors.Is(err, ErrHostTimeout) || !strings.Contains(err.Error(), "root@stuck did not finish within 300ms") ||
		!strings.Contains(err.Error(), "checking the host") {
		t.Fatalf("stuck host: %v, want ErrHostTimeout naming the host, the bound and its phase", err)
	}
	if err := res[1].Err; err == nil || errors.Is(err, ErrHostTimeout) {
		t.Fatalf("other host: %v, want its own failure, not a timeout", err)
	}

	// A cancel of the caller's context is the caller's: not reported as
	// the host running out of time.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.HostTimeout = time.Hour
	if r := d.Deploy(ctx, []Target{stuck}); errors.Is(r[0].Err, ErrHostTimeout) {
		t.Fatalf("cancelled run: %v, want no ErrHostTimeout", r[0].Err)
	}
}
