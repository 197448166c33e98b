// Package instance holds the one rule every left4me binary uses to decide
// whether a string may name a game-server instance.
package instance

import (
	"errors"
	"fmt"
)

// MaxNameLen is the longest instance name accepted.
const MaxNameLen = 32

// ErrInvalidName is wrapped by every error ValidateName returns.
var ErrInvalidName = errors.New("invalid instance name")

// ValidateName reports whether name is a valid instance name: 1 to 32
// characters of lowercase ASCII letters, digits, '-' and '_', starting with a
// letter or digit. Names reach root helpers from a web-facing user, so the
// rule is a whitelist and the error quotes the input safely.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty (use lowercase letters, digits, '-' and '_')", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %.40q: longer than %d characters", ErrInvalidName, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return fmt.Errorf("%w %q: character %q at %d (use lowercase letters, digits, '-' and '_', starting with a letter or digit)", ErrInvalidName, name, c, i)
		}
	}
	return nil
}
