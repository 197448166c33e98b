// Package sudoenv holds the one rule the root helpers use to tell whether
// they were started through sudo, in which case every test-only setting
// (LEFT4ME_ROOT, print-only mode, another mount namespace, stand-in
// programs) is ignored.
package sudoenv

// Vars are set by sudo in every command it runs, whatever env_reset keeps.
var Vars = []string{"SUDO_UID", "SUDO_USER", "SUDO_COMMAND", "SUDO_GID"}

// Started reports whether any of Vars is present in the environment that
// lookup (os.LookupEnv in production) reads. Presence counts, even empty:
// sudo always sets them, and a caller cannot unset them through sudo.
func Started(lookup func(string) (string, bool)) bool {
	for _, k := range Vars {
		if _, ok := lookup(k); ok {
			return true
		}
	}
	return false
}
