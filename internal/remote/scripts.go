package remote

import _ "embed" // the host scripts

// The shell scripts the host runs, kept as .sh files so that shellcheck
// reads them (make lint). They are POSIX sh, take every input as an argument
// (never spliced into the script text), and talk back on stdout with lines
// starting "L4M "; everything else on stdout is the host plan's own JSON
// events.

// escalateScript runs as the login user and runs rootScript as root.
//
//go:embed escalate.sh
var escalateScript string

// rootScript runs as root: it checks the state directory, then stores an
// uploaded binary (put) or stages the binaries and runs the plan (run).
//
//go:embed root.sh
var rootScript string
