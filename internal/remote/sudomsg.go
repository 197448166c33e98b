package remote

import "strings"

// sudoSaid is what a refusal of the host's sudo means, read from its
// stderr: sudo 1.9 and sudo-rs (some hosts' /usr/bin/sudo) word them
// differently.
type sudoSaid int

const (
	sudoOther         sudoSaid = iota
	sudoWantsPassword          // -n, and the rule wants a password
	sudoBadPassword            // -S, and the password was wrong or missing
	sudoNotAllowed             // no rule lets the user run the command
)

// sudoMessages maps lowercase fragments of the messages of sudo 1.9 and
// sudo-rs (0.2.5 as in Debian 13, and later) to their meaning.
var sudoMessages = []struct {
	text string
	said sudoSaid
}{
	{"a password is required", sudoWantsPassword},                 // sudo
	{"interactive authentication is required", sudoWantsPassword}, // sudo-rs
	{"incorrect password", sudoBadPassword},                       // sudo
	{"sorry, try again", sudoBadPassword},                         // sudo
	{"no password was provided", sudoBadPassword},                 // sudo
	{"authentication failed", sudoBadPassword},                    // sudo-rs
	{"incorrect authentication attempt", sudoBadPassword},         // sudo-rs
	{"not in the sudoers", sudoNotAllowed},                        // sudo
	{"not allowed to", sudoNotAllowed},                            // sudo
	{"may not run sudo", sudoNotAllowed},                          // sudo
	{"i'm afraid i can't do that", sudoNotAllowed},                // sudo-rs
}

// readSudo says what the host's sudo meant by stderr.
func readSudo(stderr string) sudoSaid {
	low := strings.ToLower(stderr)
	for _, m := range sudoMessages {
		if strings.Contains(low, m.text) {
			return m.said
		}
	}
	return sudoOther
}
