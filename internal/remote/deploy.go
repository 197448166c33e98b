// Package remote deploys left4me to hosts over SSH: it opens one connection
// per host (an OpenSSH control master), ships the host binaries the host
// lacks into a root-only cache, runs the install plan there as root
// ("left4me-deploy host ARGS", ARGS a protocol.HostArgs) and streams its
// events back.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/lines"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/runner"
	"github.com/left4me/left4me-deploy/internal/textsafe"
)

// StateDir is the host directory (root:root 0700) holding the binary cache
// and the staging directories. With Args.Root set it lives under that root.
const StateDir = hostpath.DeployStateDir

// Deployer deploys to hosts. Options live here, never in globals.
type Deployer struct {
	SSH    SSH
	Source Source
	// Args is what each host runs: the plan, the status report or the
	// rollback, and their options.
	Args     protocol.HostArgs
	Parallel int // hosts at once; < 1 means 1
	Out      *Printer
	// Prompt asks for the sudo password of a host on the terminal, giving
	// up when ctx ends. Nil, or an error wrapping ErrSudoNoTerminal, means
	// there is no terminal.
	Prompt func(ctx context.Context, prompt string) ([]byte, error)
	// Dial opens the connection to a host; nil means SSH.Open. Tests of the
	// deploy logic substitute a fake.
	Dial func(ctx context.Context, dir string, t Target, name string) (Conn, error)
	// HostTimeout bounds each host's whole run, connection included; 0
	// means no bound. A host that runs out of it fails with ErrHostTimeout,
	// naming what it was doing, and the others go on.
	HostTimeout time.Duration

	promptMu sync.Mutex
}

// Result is the outcome of one host.
type Result struct {
	Target  Target
	Summary *protocol.Event // the plan's closing counts, if it got that far
	Err     error
	Sent    int    // binaries shipped in this run
	Cached  int    // binaries the host already had
	Arch    string // host architecture (GOARCH)
	// Release is the ID of the release the host runs after the deploy,
	// from its summary ("" if it did not say).
	Release string
	// Report is the host's status report (protocol.VerbStatus), checked.
	Report *protocol.HostStatus
	// NotRun is set for a host a rollout did not start (Err says why).
	NotRun   bool
	Duration time.Duration
}

// Failed reports whether the host did not deploy cleanly.
func (r Result) Failed() bool {
	return r.Err != nil || r.Summary == nil || r.Summary.Failed > 0
}

// Deploy deploys to every target, Parallel at a time; one host failing
// does not stop the others. Results are in the order of targets. Each
// connection is closed before Deploy returns, also when ctx is cancelled.
// It is a Rollout with no batches and no failure limit.
func (d *Deployer) Deploy(ctx context.Context, targets []Target) []Result {
	return d.Rollout(ctx, nil, targets, Rollout{})
}

// hostRun is the state of one host's deploy.
type hostRun struct {
	d        *Deployer
	t        Target
	conn     Conn
	sudo     string // "n" or "S"
	password []byte
	res      *Result

	offered  map[string][]Binary
	phase    string // what is running, for "connection lost while ..."
	lastStep string
	// running is the step the host said it started and has not finished.
	running string
	applied bool // the plan started
	marks   []protocol.Mark
	// refused is the first word of the host outside the protocol; the
	// rest of the run is read but not acted on.
	refused error
	stderr  tailBuffer
	// command is the last command line run on the host, shown as the
	// detail lines show it (verbose.go), and runErr how it ended.
	command, shown string
	runErr         error
}

func (d *Deployer) deployHost(ctx context.Context, dir string, t Target, name string) (res Result) {
	res.Target = t
	h := &hostRun{d: d, t: t, sudo: "n", res: &res, phase: "connecting"}
	defer func() {
		if res.Err != nil {
			d.Out.Fail(t.Spec, res.Err)
			d.Out.Detail(t.Spec, h.details(res.Err)...)
		}
	}()
	if d.HostTimeout > 0 {
		parent := ctx
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.HostTimeout)
		defer cancel()
		defer func() {
			// Ours ran out, not the caller's: say so, whatever error the
			// cut-off command gave.
			if ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
				res.Err = fmt.Errorf("%w: %s did not finish within %s (it was %s)", ErrHostTimeout, t.Spec, d.HostTimeout, h.phase)
			}
		}()
	}
	dial := d.Dial
	if dial == nil {
		dial = func(ctx context.Context, dir string, t Target, name string) (Conn, error) {
			return d.SSH.Open(ctx, dir, t, name)
		}
	}
	conn, err := dial(ctx, dir, t, name)
	if err != nil {
		res.Err = err
		return res
	}
	h.conn = conn
	defer func() {
		if err := conn.Close(); err != nil && res.Err == nil {
			d.Out.Log(t.Spec, "", err.Error())
		}
	}()
	res.Err = h.deploy(ctx)
	return res
}

// deploy runs the plan, answering what the host says it lacks: a sudo
// password, binaries for its architecture, binaries in its cache.
func (h *hostRun) deploy(ctx context.Context) error {
	offered := h.d.Source.Ready()
	asked := map[string]bool{}
	for attempt := 0; attempt < 5; attempt++ {
		h.phase = "checking the host"
		h.offered = offered
		reply, err := h.run(ctx, offered)
		if err != nil {
			return err
		}
		switch reply.kind {
		case "applied":
			return nil
		case "password":
			if h.password != nil {
				return fmt.Errorf("%w on %s: sudo asked for the password again", ErrSudoRefused, h.t.Spec)
			}
			if err := h.askPassword(ctx); err != nil {
				return err
			}
		case "offer":
			if asked["offer"] {
				return fmt.Errorf("%w: %s runs %s and %s has no binaries for it", ErrUnsupported, h.t.Spec, h.res.Arch, h.d.Source)
			}
			if err := protocol.CheckArch(h.res.Arch); err != nil {
				// Never reached: ParseMark checked the word, and offer
				// needs a host mark (interpret).
				return h.refusal(err)
			}
			asked["offer"] = true
			h.phase = "building the host binaries for linux/" + h.res.Arch
			if _, build := h.d.Source.(*Checkout); build {
				h.d.Out.Progress(h.t.Spec, "build", h.phase+" from the checkout with go build (the first time takes a while)")
			}
			bins, err := h.d.Source.Binaries(ctx, h.res.Arch)
			if err != nil {
				return err
			}
			offered = map[string][]Binary{h.res.Arch: bins}
		case "need":
			if asked["need"] {
				return fmt.Errorf("ship binaries to %s: still missing after upload: %s", h.t.Spec, strings.Join(reply.args, " "))
			}
			asked["need"] = true
			if err := h.upload(ctx, offered[h.res.Arch], reply.args); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("deploy to %s: the host kept asking for more (last marks: %v)", h.t.Spec, h.markKinds())
}

type reply struct {
	kind string // applied, password, offer, need
	args []string
}

// rootCommand is the command line that runs rootScript as root; the
// password, when sudo wants one, goes on stdin.
func (h *hostRun) rootCommand(args ...string) (string, io.Reader) {
	words := append([]string{"sh", "-c", escalateScript, "sh", h.sudo, rootScript}, args...)
	var stdin io.Reader
	if h.sudo == "S" {
		stdin = bytes.NewReader(append(append([]byte(nil), h.password...), '\n'))
	}
	cmd := shellJoin(words...)
	h.ran(cmd, shownCommand(words))
	return cmd, stdin
}

func (h *hostRun) stateDir() string {
	if h.d.Args.Root == "" {
		return StateDir
	}
	return strings.TrimRight(h.d.Args.Root, "/") + StateDir
}

// run runs "rootScript run" once, streaming the plan's events.
func (h *hostRun) run(ctx context.Context, offered map[string][]Binary) (reply, error) {
	args := []string{"run", h.stateDir()}
	archs := make([]string, 0, len(offered))
	for a := range offered {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	for _, a := range archs {
		for _, b := range offered[a] {
			args = append(args, a+":"+b.Name+":"+b.SHA256)
		}
	}
	hostArgs, err := h.d.Args.Encode()
	if err != nil {
		return reply{}, err
	}
	args = append(args, "--", hostArgs)
	cmd, stdin := h.rootCommand(args...)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	h.marks, h.applied, h.refused, h.stderr = nil, false, nil, tailBuffer{}
	out := &lines.Writer{Emit: h.stdoutLine, MaxLine: protocol.MaxLine, MaxTotal: protocol.MaxStdout}
	errw := &lines.Writer{Emit: h.stderrLine, MaxLine: protocol.MaxStderrLine, MaxTotal: protocol.MaxStderr}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = h.conn.Run(runCtx, cmd, stdin, cutOff{out, cancel}, cutOff{errw, cancel})
	h.runErr = err
	out.Flush()
	errw.Flush()
	switch {
	case out.Over():
		return reply{}, fmt.Errorf("%s sent more than %d MiB on stdout while %s; stopped reading it", h.t.Spec, protocol.MaxStdout>>20, h.phaseDesc())
	case errw.Over():
		return reply{}, fmt.Errorf("%s sent more than %d MiB on stderr while %s; stopped reading it", h.t.Spec, protocol.MaxStderr>>20, h.phaseDesc())
	case h.refused != nil:
		return reply{}, h.refusal(h.refused)
	}
	return h.interpret(ctx, err)
}

// refusal is the error for a word of the host outside the protocol.
func (h *hostRun) refusal(err error) error {
	return fmt.Errorf("%w: %s sent a word outside the protocol while %s: %w", ErrProtocol, h.t.Spec, h.phaseDesc(), err)
}

// refuse records the first refused word; from then on nothing the host
// says is acted on.
func (h *hostRun) refuse(err error) {
	if h.refused == nil {
		h.refused = err
	}
}

func (h *hostRun) stdoutLine(line string) {
	if h.refused != nil {
		return
	}
	if protocol.IsMark(line) && !h.applied {
		m, err := protocol.ParseMark(line)
		if err == nil && len(h.marks) >= protocol.MaxMarks {
			err = &protocol.RefusedError{What: "mark", Word: string(m.Kind), Want: fmt.Sprintf("at most %d marks", protocol.MaxMarks)}
		}
		if err != nil {
			h.refuse(err)
			return
		}
		h.marks = append(h.marks, m)
		switch m.Kind {
		case protocol.MarkHost:
			h.res.Arch = m.Arch
			h.d.Out.Log(h.t.Spec, "connect", fmt.Sprintf("connected: %s %s", m.OS, m.Machine))
		case protocol.MarkApply:
			h.applied = true
			h.phase = "running the plan"
			n := len(h.offered[h.res.Arch])
			h.res.Cached = n - h.res.Sent
			if h.res.Sent == 0 {
				h.d.Out.Log(h.t.Spec, "ship", fmt.Sprintf("sent 0 of %d binaries for linux/%s: the host has them all", n, h.res.Arch))
			}
		}
		return
	}
	if !h.applied {
		h.d.Out.Log(h.t.Spec, "", line)
		return
	}
	ev, st, err := protocol.ParseEvent(line)
	switch {
	case errors.Is(err, protocol.ErrNotEvent):
		h.d.Out.Log(h.t.Spec, "", line)
		return
	case err != nil:
		h.refuse(err)
		return
	}
	ev.Host = h.t.Spec
	switch ev.Type {
	case protocol.EventStart:
		h.running = ev.Step
		if h.d.Out.JSON {
			h.d.Out.Event(ev) // a consumer can tell the step a host is in
		}
		return // in text the step's own line says how it ended
	case protocol.EventStatus:
		h.res.Report = st
		return
	case protocol.EventStep:
		h.lastStep, h.running = ev.Step, ""
	case protocol.EventSummary:
		s := ev
		h.res.Summary = &s
		if ev.Release != "" {
			h.res.Release = ev.Release
		}
		if h.d.Out.JSON {
			return // Printer.Summary prints one summary per host at the end
		}
	}
	h.d.Out.Event(ev)
}

func (h *hostRun) stderrLine(line string) {
	h.stderr.add(line)
	h.d.Out.Log(h.t.Spec, "stderr", line)
}

// mark returns the host's mark of a kind, if it sent one.
func (h *hostRun) mark(kind protocol.MarkKind) (protocol.Mark, bool) {
	for _, m := range h.marks {
		if m.Kind == kind {
			return m, true
		}
	}
	return protocol.Mark{}, false
}

func (h *hostRun) hasMark(kind protocol.MarkKind) bool {
	_, ok := h.mark(kind)
	return ok
}

// markKinds lists the kinds of mark the host sent, for a message.
func (h *hostRun) markKinds() []string {
	var out []string
	for _, m := range h.marks {
		out = append(out, string(m.Kind))
	}
	return out
}

// interpret turns the end of a run into the next move or an error.
func (h *hostRun) interpret(ctx context.Context, err error) (reply, error) {
	stderr := h.stderr.String()
	if err != nil && ctx.Err() != nil {
		return reply{}, fmt.Errorf("interrupted while %s: %w", h.phaseDesc(), ctx.Err())
	}
	if err != nil && runner.ExitCode(err) == 255 && h.conn.Lost() {
		return reply{}, fmt.Errorf("%w to %s while %s; rerun to converge: %s", ErrConnectionLost, h.t.Spec, h.phaseDesc(), lastLines(stderr, 2))
	}
	switch {
	case h.hasMark(protocol.MarkApply):
		if err != nil {
			if h.res.Summary != nil && h.res.Summary.Failed > 0 {
				return reply{}, fmt.Errorf("the plan failed on %s (%d failed steps)", h.t.Spec, h.res.Summary.Failed)
			}
			if killedClient(err) {
				return reply{}, quiet(err, "%s while %s on %s; the host may have finished or stopped the plan, rerun to converge", ending(err), h.phaseDesc(), h.t.Spec)
			}
			return reply{}, quiet(err, "%s: the plan failed on %s while %s", cause(err, stderr), h.t.Spec, h.phaseDesc())
		}
		if h.res.Summary == nil {
			return reply{}, fmt.Errorf("the plan on %s ended without a summary (after step %q)", h.t.Spec, h.lastStep)
		}
		return reply{kind: "applied"}, nil
	case h.hasMark(protocol.MarkNoSudo):
		m, _ := h.mark(protocol.MarkNoSudo)
		return reply{}, fmt.Errorf("%w: %s logs in as %s, which is not root, and sudo is not installed (log in as root, or install sudo)", ErrSudoRefused, h.t.Spec, m.User)
	case h.hasMark(protocol.MarkUnsafe):
		m, _ := h.mark(protocol.MarkUnsafe)
		return reply{}, fmt.Errorf("%w %s: %s (remove or fix it, then rerun)", ErrHostState, h.t.Spec, textsafe.Field(m.Text))
	case h.hasMark(protocol.MarkUnsupported):
		runs := "an unknown system"
		if m, ok := h.mark(protocol.MarkHost); ok {
			runs = m.OS + " " + m.Machine
		}
		return reply{}, fmt.Errorf("%w: %s runs %s; left4me needs Linux on x86_64 (amd64) or aarch64 (arm64)", ErrUnsupported, h.t.Spec, runs)
	case h.hasMark(protocol.MarkOffer):
		if m, ok := h.mark(protocol.MarkHost); !ok || m.Arch == protocol.ArchUnknown {
			return reply{}, h.refusal(&protocol.RefusedError{What: "mark", Word: string(protocol.MarkOffer), Want: "an offer only after the host named a known architecture"})
		}
		return reply{kind: "offer"}, nil
	case h.hasMark(protocol.MarkNeed):
		m, _ := h.mark(protocol.MarkNeed)
		return reply{kind: "need", args: m.Need}, nil
	}
	// The root script never started: sudo said no, or something else
	// failed before it.
	if m, ok := h.mark(protocol.MarkSudo); ok {
		user := m.User
		switch readSudo(stderr) {
		case sudoWantsPassword:
			return reply{kind: "password"}, nil
		case sudoBadPassword:
			return reply{}, fmt.Errorf("%w: sudo on %s: incorrect password for %s (or log in as root, or allow %s passwordless sudo: NOPASSWD)", ErrSudoRefused, h.t.Spec, user, user)
		case sudoNotAllowed:
			return reply{}, fmt.Errorf("%w: %s may not run commands as root with sudo on %s: %s", ErrSudoRefused, user, h.t.Spec, lastLines(stderr, 2))
		}
		if err != nil {
			return reply{}, fmt.Errorf("%w: sudo on %s failed for %s: %s", ErrSudoRefused, h.t.Spec, user, lastLines(stderr, 3))
		}
	}
	if err != nil {
		return reply{}, quiet(err, "%s: %s on %s failed before the host said anything", cause(err, stderr), h.phaseDesc(), h.t.Spec)
	}
	return reply{}, fmt.Errorf("%s on %s: the host said nothing we understand (marks: %v)", h.phaseDesc(), h.t.Spec, h.markKinds())
}

func (h *hostRun) phaseDesc() string {
	if h.phase == "running the plan" {
		switch {
		case h.running != "":
			return fmt.Sprintf("running the plan (step %q)", h.running)
		case h.lastStep == "":
			return "running the plan (before its first step finished)"
		}
		return fmt.Sprintf("running the plan (the step after %q)", h.lastStep)
	}
	return h.phase
}

// askPassword asks for the sudo password on the terminal, one host at a
// time.
func (h *hostRun) askPassword(ctx context.Context) error {
	m, _ := h.mark(protocol.MarkSudo)
	user := m.User
	noTerm := fmt.Errorf("%w: sudo on %s needs a password for %s and there is no terminal to ask it on; run left4me-deploy from a terminal, log in as root, or allow %s passwordless sudo (NOPASSWD)", ErrSudoNoTerminal, h.t.Spec, user, user)
	if h.d.Prompt == nil {
		return noTerm
	}
	h.d.promptMu.Lock()
	defer h.d.promptMu.Unlock()
	pw, err := h.d.Prompt(ctx, fmt.Sprintf("[sudo] password for %s on %s: ", user, h.t.Host))
	if errors.Is(err, ErrSudoNoTerminal) {
		return noTerm
	}
	if err != nil {
		return fmt.Errorf("ask for the sudo password of %s: %w", h.t.Spec, err)
	}
	if bytes.ContainsAny(pw, "\n\r") {
		return fmt.Errorf("sudo password for %s contains a line break", h.t.Spec)
	}
	h.password, h.sudo = pw, "S"
	return nil
}

// upload ships the binaries whose checksums the host lacks, one command
// each, through the same connection; the host checks each checksum.
func (h *hostRun) upload(ctx context.Context, bins []Binary, need []string) error {
	want := map[string]bool{}
	for _, n := range need {
		want[n] = true
	}
	var sent []string
	for _, b := range bins {
		if !want[b.SHA256] {
			continue
		}
		want[b.SHA256] = false
		h.phase = "sending " + b.Name
		h.d.Out.Progress(h.t.Spec, "ship", fmt.Sprintf("sending %s (%s)", b.Name, sizeOf(b.Path)))
		f, err := os.Open(b.Path)
		if err != nil {
			return fmt.Errorf("send %s to %s: %w", b.Name, h.t.Spec, err)
		}
		cmd, pw := h.rootCommand("put", h.stateDir(), b.SHA256)
		var stdin io.Reader = f
		if pw != nil {
			stdin = io.MultiReader(pw, f)
		}
		var stderr tailBuffer
		errw := &lines.Writer{Emit: stderr.add, MaxLine: protocol.MaxStderrLine, MaxTotal: protocol.MaxStderr}
		runCtx, cancel := context.WithCancel(ctx)
		err = h.conn.Run(runCtx, cmd, stdin, io.Discard, cutOff{errw, cancel})
		h.runErr = err
		cancel()
		errw.Flush()
		f.Close()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted while %s: %w", h.phase, ctx.Err())
			}
			if runner.ExitCode(err) == 255 && h.conn.Lost() {
				return fmt.Errorf("%w to %s while %s; rerun to converge", ErrConnectionLost, h.t.Spec, h.phase)
			}
			return quiet(err, "%s: sending %s to %s failed", cause(err, stderr.String()), b.Name, h.t.Spec)
		}
		sent = append(sent, b.Name)
	}
	for sum, missing := range want {
		if missing {
			return fmt.Errorf("ship binaries to %s: the host asked for %s, which was not offered", h.t.Spec, sum)
		}
	}
	h.res.Sent += len(sent)
	h.d.Out.Log(h.t.Spec, "ship", fmt.Sprintf("sent %d of %d binaries for linux/%s: %s", len(sent), len(bins), h.res.Arch, strings.Join(sent, " ")))
	return nil
}

// tailBuffer keeps the last lines of a stream for error messages.
type tailBuffer struct{ lines []string }

func (b *tailBuffer) add(l string) {
	b.lines = append(b.lines, l)
	if len(b.lines) > 50 {
		b.lines = b.lines[len(b.lines)-50:]
	}
}

func (b *tailBuffer) String() string { return strings.Join(b.lines, "\n") }
