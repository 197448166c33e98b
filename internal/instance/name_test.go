package instance

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"simple", "test-server", true},
		{"digits first", "1abc", true},
		{"underscore", "a_b", true},
		{"max length", strings.Repeat("a", 32), true},
		{"too long", strings.Repeat("a", 33), false},
		{"empty", "", false},
		{"traversal", "../escape", false},
		{"upper case", "Alpha", false},
		{"leading dash", "-x", false},
		{"leading underscore", "_x", false},
		{"slash", "a/b", false},
		{"dot", "a.b", false},
		{"space", "a b", false},
		{"newline", "a\n", false},
		{"nul", "a\x00", false},
		{"non-ascii", "caf\u00e9", false},
		{"option-like", "--help", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidateName(%q) = %v, want it to wrap ErrInvalidName", tt.in, err)
			}
		})
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"test-server", "../x", "", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) != nil {
			return
		}
		if len(s) == 0 || len(s) > MaxNameLen || strings.ContainsAny(s, "/.\x00 ") {
			t.Fatalf("ValidateName(%q) accepted an unsafe name", s)
		}
	})
}
