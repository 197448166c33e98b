// Package version reports what a left4me binary was built from: the module
// version and the VCS commit Go stamps into every build (debug.BuildInfo),
// the same whether it came from scripts/dist or a plain go build in a
// checkout. Every command prints it for --version.
package version

import (
	"fmt"
	"io"
	"runtime/debug"
)

// Info is the build information of one binary.
type Info struct {
	// Version is the main module's version: a tag, a pseudo-version
	// derived from the commit, or "(devel)" for a build without VCS.
	Version string `json:"version"`
	// Commit is the full VCS revision, empty when the build had none.
	Commit string `json:"commit,omitempty"`
	// Modified is true when the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Time is the commit time (RFC 3339), empty without VCS.
	Time string `json:"time,omitempty"`
	// Go is the toolchain that built it.
	Go string `json:"go,omitempty"`
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from Go's build information.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		case "vcs.time":
			i.Time = s.Value
		}
	}
	return i
}

// ShortCommit is the first 12 hex digits of the commit, with "+dirty" when
// the checkout was modified, or "unknown".
func (i Info) ShortCommit() string {
	if i.Commit == "" {
		return "unknown"
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+dirty"
	}
	return c
}

// String is the one line --version prints after the program's name:
// "v0.0.0-20261130045512-84c64f4e1a2b commit 84c64f4e1a2b (go1.26.8)".
func (i Info) String() string {
	s := i.Version + " commit " + i.ShortCommit()
	if i.Go != "" {
		s += " (" + i.Go + ")"
	}
	return s
}

// Print writes "NAME VERSION commit COMMIT (GO)" and a newline to w.
func Print(w io.Writer, name string) {
	fmt.Fprintln(w, name, Read())
}

// IsFlag reports whether args (without the program name) ask for the
// version and nothing else: exactly "--version". The privileged helpers
// check it before anything else, so it reads no environment and no file.
func IsFlag(args []string) bool {
	return len(args) == 1 && args[0] == "--version"
}
