package protocol

import (
	"slices"
	"strings"
)

// MarkPrefix starts every mark line.
const MarkPrefix = "L4M "

// MarkKind is the first word of a mark.
type MarkKind string

// The marks root.sh and escalate.sh send.
const (
	// MarkHost: "L4M host OS MACHINE ARCH", uname -s, uname -m and the
	// GOARCH (or "unknown").
	MarkHost MarkKind = "host"
	// MarkUnsupported: the host is not Linux on a known architecture.
	MarkUnsupported MarkKind = "unsupported"
	// MarkOffer: nothing was offered for the host's architecture.
	MarkOffer MarkKind = "offer"
	// MarkNeed: "L4M need SHA256...", checksums missing from the cache.
	MarkNeed MarkKind = "need"
	// MarkApply: the plan starts; JSON events follow.
	MarkApply MarkKind = "apply"
	// MarkSudo: "L4M sudo USER", the login user is about to run sudo.
	MarkSudo MarkKind = "sudo"
	// MarkNoSudo: "L4M nosudo USER", not root and no sudo.
	MarkNoSudo MarkKind = "nosudo"
	// MarkUnsafe: "L4M unsafe TEXT", the host's state directory is not
	// root's; TEXT is free text, only printed.
	MarkUnsafe MarkKind = "unsafe"
)

// Mark is one mark, checked.
type Mark struct {
	Kind MarkKind
	// OS, Machine and Arch are set on MarkHost.
	OS, Machine, Arch string
	// Need lists the checksums of MarkNeed.
	Need []string
	// User is the login user of MarkSudo and MarkNoSudo.
	User string
	// Text is the free text of MarkUnsafe.
	Text string
}

// IsMark reports whether a line of the host's stdout is a mark.
func IsMark(line string) bool { return strings.HasPrefix(line, MarkPrefix) }

// ParseMark checks one mark line: a known kind with exactly its words,
// each in its closed set. The error is a *RefusedError.
func ParseMark(line string) (Mark, error) {
	rest, ok := strings.CutPrefix(line, MarkPrefix)
	if !ok {
		return Mark{}, refuse("mark", line, `a line "L4M KIND ..."`)
	}
	kind, args, _ := strings.Cut(rest, " ")
	f := strings.Fields(args)
	m := Mark{Kind: MarkKind(kind)}
	words := func(n int) error {
		if len(f) != n || strings.Join(f, " ") != args {
			return refuse(kind+" mark", args, "exactly "+[]string{"no words", "one word", "two words", "three words"}[n]+", one space apart")
		}
		return nil
	}
	switch m.Kind {
	case MarkUnsupported, MarkOffer, MarkApply:
		return m, words(0)
	case MarkHost:
		if err := words(3); err != nil {
			return m, err
		}
		m.OS, m.Machine, m.Arch = f[0], f[1], f[2]
		if err := checkSystem("system name", m.OS); err != nil {
			return m, err
		}
		if err := checkSystem("machine name", m.Machine); err != nil {
			return m, err
		}
		if m.Arch != ArchUnknown {
			if err := CheckArch(m.Arch); err != nil {
				return m, err
			}
		}
		return m, nil
	case MarkNeed:
		if len(f) == 0 || len(f) > MaxNeed {
			return m, refuse("need mark", args, "1 to 32 checksums")
		}
		for _, h := range f {
			if err := CheckChecksum(h); err != nil {
				return m, err
			}
		}
		m.Need = slices.Compact(slices.Sorted(slices.Values(f)))
		return m, nil
	case MarkSudo, MarkNoSudo:
		if err := words(1); err != nil {
			return m, err
		}
		m.User = f[0]
		return m, checkUser(m.User)
	case MarkUnsafe:
		if args == "" {
			return m, refuse("unsafe mark", args, "a reason")
		}
		m.Text = args
		return m, nil
	}
	return m, refuse("mark", kind, "host, unsupported, offer, need, apply, sudo, nosudo or unsafe")
}
