package remote

import (
	"os/exec"
	"strings"
)

// shellQuote quotes s for a POSIX shell: the remote login shell parses the
// command line ssh sends, so every argument is quoted on our side.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes every word and joins them with spaces.
func shellJoin(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// lookPath is exec.LookPath.
var lookPath = exec.LookPath
