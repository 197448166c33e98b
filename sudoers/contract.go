package sudoers

import "github.com/left4me/left4me-deploy/internal/hostpath"

// ProbeName is the instance name the contract's probes use. Asking sudo
// about it changes nothing; the one probe that runs (LiveProbe) only asks
// systemd whether its unit is active.
const ProbeName = "verify-probe"

// Probe is one call and the answer the helpers' contract fixes for it:
// whether sudo must let the web app's user run it as root.
type Probe struct {
	Argv  []string
	Allow bool
}

// Probes returns the calls that show whether a host's sudo grants exactly
// the contract of p: every granted program with an instance name (the web
// app's own calls), and calls sudo must refuse: the helpers themselves
// with a verb (the old wildcard rules' shape, and a sign of another rule
// for the user), a verb no entry point has, other programs, a shell. Any
// arguments to a granted program are the helper's to refuse, not sudo's
// (see the package comment), so no probe asks sudo about them.
func Probes(p Params) []Probe {
	var out []Probe
	for _, e := range Entries(p) {
		if e.NoName {
			out = append(out, Probe{Argv: []string{e.Path}, Allow: true})
			continue
		}
		out = append(out, Probe{Argv: []string{e.Path, ProbeName}, Allow: true})
	}
	out = append(out,
		Probe{Argv: []string{p.JournalHelper, ProbeName, "-n", "50"}, Allow: true},
		Probe{Argv: []string{p.OverlayHelper, "mount", ProbeName}},
		Probe{Argv: []string{p.OverlayHelper, "umount", ProbeName}},
		Probe{Argv: []string{p.SystemctlHelper, "start", ProbeName}},
		Probe{Argv: []string{p.SystemctlHelper, "enable", ProbeName}},
		Probe{Argv: []string{"/usr/bin/systemctl", "start", "ssh.service"}},
		Probe{Argv: []string{"/bin/sh", "-c", "id"}},
		Probe{Argv: []string{"/usr/bin/id"}},
	)
	return out
}

// LiveProbe is the one call the deploy makes as the web app's user, through
// sudo -n, to see the rules work end to end (no password, the account
// usable by sudo): "left4me-systemctl-is-active verify-probe", which only
// asks systemd about a unit and prints its state.
func LiveProbe(p Params) []string {
	return []string{hostpath.EntryPoint(p.SystemctlHelper, "is-active"), ProbeName}
}
