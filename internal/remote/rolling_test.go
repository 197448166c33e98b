package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/protocol"
)

func TestBatches(t *testing.T) {
	cases := []struct {
		r    Rollout
		n    int
		want string
	}{
		{Rollout{}, 5, "[[0 1 2 3 4]]"},
		{Rollout{Serial: 2}, 5, "[[0 1] [2 3] [4]]"},
		{Rollout{Canary: true}, 5, "[[0] [1 2 3 4]]"},
		{Rollout{Canary: true, Serial: 3}, 6, "[[0] [1 2 3] [4 5]]"},
		{Rollout{Canary: true}, 1, "[[0]]"},
		{Rollout{Serial: 9}, 3, "[[0 1 2]]"},
		{Rollout{}, 0, "[]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(c.r.Batches(c.n)); got != c.want {
			t.Errorf("%+v.Batches(%d) = %s, want %s", c.r, c.n, got, c.want)
		}
	}
}

// fakeHosts records the order hosts start and finish in and fails the
// hosts in fail.
type fakeHosts struct {
	mu      sync.Mutex
	started []int
	running int
	most    int
	fail    map[int]bool
	delay   time.Duration
}

func (f *fakeHosts) do(ctx context.Context, i int) bool {
	f.mu.Lock()
	f.started = append(f.started, i)
	f.running++
	f.most = max(f.most, f.running)
	f.mu.Unlock()
	time.Sleep(f.delay)
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	return !f.fail[i]
}

func summarize(out []Outcome) string {
	var s []string
	for i, o := range out {
		switch {
		case !o.Ran:
			s = append(s, fmt.Sprintf("%d:-", i))
		case o.OK:
			s = append(s, fmt.Sprintf("%d:ok", i))
		default:
			s = append(s, fmt.Sprintf("%d:FAIL", i))
		}
	}
	return strings.Join(s, " ")
}

func TestRoll(t *testing.T) {
	cases := []struct {
		name     string
		r        Rollout
		n, par   int
		fail     []int
		want     string
		why      string // NotRun of the hosts not run
		maxAtOnc int
	}{
		{"all at once", Rollout{}, 4, 4, nil, "0:ok 1:ok 2:ok 3:ok", "", 4},
		{"parallel caps a batch", Rollout{}, 6, 2, nil, "0:ok 1:ok 2:ok 3:ok 4:ok 5:ok", "", 2},
		{"serial one at a time", Rollout{Serial: 1}, 3, 4, nil, "0:ok 1:ok 2:ok", "", 1},
		{"max-fail 1 stops after the first failure", Rollout{Serial: 1, MaxFail: 1}, 5, 4, []int{1}, "0:ok 1:FAIL 2:- 3:- 4:-", "1 hosts failed (--max-fail 1)", 1},
		{"max-fail 2 lets one failure pass", Rollout{Serial: 1, MaxFail: 2}, 5, 4, []int{1, 3}, "0:ok 1:FAIL 2:ok 3:FAIL 4:-", "2 hosts failed (--max-fail 2)", 1},
		{"no max-fail runs everything", Rollout{Serial: 2}, 4, 4, []int{0, 1, 2}, "0:FAIL 1:FAIL 2:FAIL 3:ok", "", 2},
		{"a failed batch stops the next one", Rollout{Serial: 2, MaxFail: 1}, 6, 4, []int{0}, "0:FAIL 1:ok 2:- 3:- 4:- 5:-", "--max-fail 1", 2},
		{"canary failing stops everything", Rollout{Canary: true}, 4, 4, []int{0}, "0:FAIL 1:- 2:- 3:-", "the canary failed", 1},
		{"canary passing releases the rest", Rollout{Canary: true}, 4, 4, []int{2}, "0:ok 1:ok 2:FAIL 3:ok", "", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeHosts{fail: map[int]bool{}, delay: 5 * time.Millisecond}
			for _, i := range c.fail {
				f.fail[i] = true
			}
			out := c.r.Roll(context.Background(), nil, c.n, c.par, f.do)
			if got := summarize(out); got != c.want {
				t.Fatalf("Roll = %s, want %s", got, c.want)
			}
			for i, o := range out {
				if !o.Ran && !strings.Contains(o.NotRun, c.why) {
					t.Errorf("host %d not run because %q, want %q", i, o.NotRun, c.why)
				}
			}
			if f.most > c.maxAtOnc {
				t.Errorf("%d hosts ran at once, want at most %d", f.most, c.maxAtOnc)
			}
		})
	}
}

// The hosts of a batch run at once, up to parallel: each host here waits
// until all of them started, which only ends if they run together.
func TestRollRunsBatchTogether(t *testing.T) {
	for _, c := range []struct {
		r           Rollout
		n, parallel int
		together    int
	}{
		{Rollout{}, 4, 4, 4},
		{Rollout{Serial: 3}, 6, 8, 3},
		{Rollout{}, 6, 2, 2},
	} {
		var mu sync.Mutex
		started := 0
		all := make(chan struct{})
		do := func(ctx context.Context, i int) bool {
			mu.Lock()
			started++
			if started%c.together == 0 {
				close(all)
				all = make(chan struct{})
				mu.Unlock()
				return true
			}
			wait := all
			mu.Unlock()
			select {
			case <-wait:
				return true
			case <-time.After(10 * time.Second):
				return false
			}
		}
		if got := summarize(c.r.Roll(context.Background(), nil, c.n, c.parallel, do)); strings.Contains(got, "FAIL") || strings.Contains(got, "-") {
			t.Errorf("%+v over %d hosts, parallel %d: %s; want groups of %d to run together", c.r, c.n, c.parallel, got, c.together)
		}
	}
}

// Closing stop (the first Ctrl-C) starts no new host; the running ones
// finish and succeed.
func TestRollStop(t *testing.T) {
	stop := make(chan struct{})
	started := make(chan int, 10)
	release := make(chan struct{})
	do := func(ctx context.Context, i int) bool {
		started <- i
		<-release
		return ctx.Err() == nil
	}
	done := make(chan []Outcome)
	go func() { done <- Rollout{Serial: 2}.Roll(context.Background(), stop, 6, 4, do) }()
	<-started
	<-started
	close(stop)
	close(release)
	out := <-done
	if got := summarize(out); got != "0:ok 1:ok 2:- 3:- 4:- 5:-" {
		t.Fatalf("Roll after stop = %s", got)
	}
	if !strings.Contains(out[2].NotRun, "interrupted") {
		t.Errorf("NotRun = %q", out[2].NotRun)
	}
}

// A rollout's closing message counts the failed and the not-run hosts.
func TestTallyOutcome(t *testing.T) {
	ok := Result{Summary: &protocol.Event{Type: protocol.EventSummary, OK: 1}}
	failed := Result{Err: errors.New("x")}
	notRun := Result{NotRun: true, Err: errors.New("not run")}
	for _, tc := range []struct {
		results []Result
		want    string
	}{
		{[]Result{ok, ok}, ""},
		{[]Result{ok, failed}, "deploy failed on 1 of 2 hosts"},
		{[]Result{failed, notRun, notRun}, "deploy failed on 1 of 3 hosts; 2 not run"},
		{[]Result{ok, notRun}, "deploy interrupted: 1 of 2 hosts not run"},
	} {
		if got := Count(tc.results).Outcome("deploy"); got != tc.want {
			t.Errorf("Outcome = %q, want %q", got, tc.want)
		}
	}
}
