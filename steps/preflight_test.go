//go:build linux

package steps

import "testing"

func TestSudoKind(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"Sudo version 1.9.13p3\nSudoers policy plugin version 1.9.13p3\n", "sudo 1.9.13p3", true},
		{"sudo-rs 0.2.5", "sudo-rs 0.2.5", true},
		{"sudo-rs 0.2.8\n", "sudo-rs 0.2.8", true},
		{"doas 6.8\n", "", false},
		{"", "", false},
	} {
		if got, ok := SudoKind(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("SudoKind(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
