// Package instanceenv reads an instance's instance.env, the file that
// lists its lower layers, and validates every layer path in it: the rules
// both the overlay helper and l4d2ctl apply, without any of the helper's
// mount code.
package instanceenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/left4me/left4me-deploy/internal/hostpath"
)

// MaxLayers is the most lower layers one instance may stack: the kernel's
// OVL_MAX_STACK.
const MaxLayers = 500

// MaxEnvSize bounds instance.env. The file belongs to the hostile user; a
// 500-layer list of long paths stays far below it.
const MaxEnvSize = 1 << 20

// LowerDirsKey is the instance.env key that lists the lower layers,
// colon-separated, topmost first.
const LowerDirsKey = "LOWERDIRS"

// Errors of instance.env and of layer paths. Every error the parser and the
// validator return wraps one of them.
var (
	// ErrEnv is wrapped by every malformed-instance.env error.
	ErrEnv = errors.New("bad instance.env")
	// ErrLayer is wrapped by every refused layer path.
	ErrLayer = errors.New("refused layer")
)

// ParseEnv reads instance.env: KEY=value lines, blank lines and lines
// starting with '#' ignored. A value may be wrapped in one pair of double or
// single quotes (as systemd's EnvironmentFile= accepts); no other escapes are
// interpreted. A line without '=', a key that is not [A-Za-z_][A-Za-z0-9_]*,
// a repeated key, a NUL byte or more than MaxEnvSize bytes is an error naming
// the line.
func ParseEnv(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxEnvSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrEnv, err)
	}
	if len(data) > MaxEnvSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrEnv, MaxEnvSize)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("%w: contains a NUL byte", ErrEnv)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), MaxEnvSize+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: no '=' in %.60q", ErrEnv, n, line)
		}
		if !validKey(key) {
			return nil, fmt.Errorf("%w: line %d: bad key %.60q", ErrEnv, n, key)
		}
		if _, dup := env[key]; dup {
			return nil, fmt.Errorf("%w: line %d: %s set twice", ErrEnv, n, key)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		env[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEnv, err)
	}
	return env, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Layers returns the lower layers named by LOWERDIRS in env, topmost first,
// each checked by ValidateLayer. It refuses a missing key, an empty list, an
// empty entry, more than MaxLayers layers and a repeated layer.
func Layers(env map[string]string) ([]string, error) {
	v, ok := env[LowerDirsKey]
	if !ok {
		return nil, fmt.Errorf("%w: no %s= line (it lists the lower layers, colon-separated, topmost first)", ErrEnv, LowerDirsKey)
	}
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%w: %s is empty: an instance needs at least one lower layer", ErrEnv, LowerDirsKey)
	}
	parts := strings.Split(v, ":")
	if len(parts) > MaxLayers {
		return nil, fmt.Errorf("%w: %s has %d layers, the kernel stacks at most %d", ErrEnv, LowerDirsKey, len(parts), MaxLayers)
	}
	seen := make(map[string]int, len(parts))
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: %s entry %d is empty (a stray ':'?)", ErrLayer, LowerDirsKey, i+1)
		}
		if err := ValidateLayer(p); err != nil {
			return nil, err
		}
		if j, dup := seen[p]; dup {
			return nil, fmt.Errorf("%w %q: listed twice (entries %d and %d)", ErrLayer, p, j+1, i+1)
		}
		seen[p] = i
	}
	return parts, nil
}

// ValidateLayer checks one lower-layer path as written in instance.env (a
// host path) without touching the file system: it must be absolute and
// clean, free of "." and ".." components, free of ',' ':' '\\', whitespace,
// control characters and invalid UTF-8 (each would inject mount options or
// hide a different path), and lie in installation/ or in overlays/ID/ of the
// state root — never runtime/. Resolving the path safely is the mount code's
// job; this rule only decides which strings are worth resolving.
func ValidateLayer(p string) error {
	if len(p) > 4095 {
		return fmt.Errorf("%w %.60q...: longer than 4095 bytes", ErrLayer, p)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w %q: not valid UTF-8", ErrLayer, p)
	}
	for _, c := range p {
		switch {
		case c == ',' || c == ':' || c == '\\':
			return fmt.Errorf("%w %q: contains %q, which the kernel reads as a mount-option separator or escape", ErrLayer, p, c)
		case unicode.IsSpace(c):
			return fmt.Errorf("%w %q: contains whitespace %q", ErrLayer, p, c)
		case unicode.IsControl(c):
			return fmt.Errorf("%w %q: contains control character %q", ErrLayer, p, c)
		}
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w %q: not an absolute path", ErrLayer, p)
	}
	for _, c := range strings.Split(p[1:], "/") {
		switch c {
		case "..":
			return fmt.Errorf("%w %q: contains '..'", ErrLayer, p)
		case ".":
			return fmt.Errorf("%w %q: contains a '.' component", ErrLayer, p)
		case "":
			return fmt.Errorf("%w %q: empty component ('//' or trailing '/')", ErrLayer, p)
		}
	}
	if p != path.Clean(p) {
		return fmt.Errorf("%w %q: not a clean path", ErrLayer, p)
	}
	if _, _, err := SplitLayer(p); err != nil {
		return err
	}
	return nil
}

// SplitLayer maps a validated layer path to the allowed base it lies in
// ("installation" or "overlays") and the rest below that base ("" for the
// installation itself; "ID[/...]" below overlays).
func SplitLayer(p string) (base, rest string, err error) {
	state := hostpath.StateDir + "/"
	inState, ok := strings.CutPrefix(p, state)
	if !ok {
		return "", "", fmt.Errorf("%w %q: outside %s (layers live in installation/ or overlays/ID/)", ErrLayer, p, hostpath.StateDir)
	}
	first, rest, _ := strings.Cut(inState, "/")
	switch first {
	case "installation":
		return first, rest, nil
	case "overlays":
		if rest == "" {
			return "", "", fmt.Errorf("%w %q: overlays/ itself is not a layer; name one overlays/ID", ErrLayer, p)
		}
		return first, rest, nil
	case "runtime":
		return "", "", fmt.Errorf("%w %q: under runtime/, where instances' own upper and merged dirs live", ErrLayer, p)
	default:
		return "", "", fmt.Errorf("%w %q: not in installation/ or overlays/ID/", ErrLayer, p)
	}
}
