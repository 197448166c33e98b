// Package protocol is the conversation between the workstation's
// left4me-deploy and a host, in one place: what the host may say, how much
// of it, and in which words.
//
// The workstation runs internal/remote/root.sh on the host over SSH, its last
// argument one HostArgs: what the host is to run (apply, status or
// rollback) and with which options. Before the plan
// starts, the host speaks in marks, lines "L4M KIND WORD..." (Mark): its
// system and architecture, what it lacks (a sudo password, binaries for
// its architecture, checksums missing from its cache), or why it refuses.
// The mark "L4M apply" starts the plan, which prints one JSON Event per
// line: steps starting and ending, diffs, log lines, for left4me-deploy
// status one HostStatus, and last the Summary, which carries the release
// the host runs.
//
// A host may be compromised and owns every byte it sends, so the
// workstation reads it bounded (MaxLine, MaxStdout, MaxStderrLine,
// MaxStderr; see internal/lines) and checks every word it acts on against
// a closed set before any use (ParseMark, ParseEvent): architectures,
// checksums, step names, statuses, user names, release ids. No host word
// reaches a workstation path, environment variable or command line
// unchecked; hostile free text (reasons, log lines, diffs) is only ever
// printed, through internal/textsafe.
package protocol

// The bounds on what the workstation reads of one host.
const (
	// MaxLine bounds one line of the host's stdout: a mark or one event,
	// the status report (every instance) and a diff included. A longer
	// line is cut (internal/lines) and then no longer parses.
	MaxLine = 4 << 20
	// MaxStdout bounds all of one host's stdout in one run of root.sh;
	// past it the workstation stops reading and fails the host.
	MaxStdout = 64 << 20
	// MaxStderrLine bounds one line of the host's stderr, each printed.
	MaxStderrLine = 8 << 10
	// MaxStderr bounds all of one host's stderr in one run.
	MaxStderr = 16 << 20
	// MaxMarks bounds the marks of one run of root.sh (it sends at most
	// five).
	MaxMarks = 16
	// MaxNeed bounds the checksums one "need" mark may list: one per
	// binary the workstation offered.
	MaxNeed = 32
	// MaxCount bounds a count in a summary.
	MaxCount = 10000
)
