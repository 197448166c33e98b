package hostpath

import "testing"

func TestJoin(t *testing.T) {
	tests := []struct {
		name string
		root Root
		in   string
		want string
	}{
		{"host", "", "/etc/sudoers.d/left4me", "/etc/sudoers.d/left4me"},
		{"slash root", "/", "/var/lib/left4me", "/var/lib/left4me"},
		{"prefix", "/tmp/t", "/var/lib/left4me", "/tmp/t/var/lib/left4me"},
		{"dotdot cannot climb", "/tmp/t", "/../../etc", "/tmp/t/etc"},
		{"relative made absolute", "/tmp/t", "etc", "/tmp/t/etc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.root.Join(tt.in); got != tt.want {
				t.Fatalf("Root(%q).Join(%q) = %q, want %q", tt.root, tt.in, got, tt.want)
			}
		})
	}
}

func TestHostPath(t *testing.T) {
	r := Root("/tmp/t")
	if got, ok := r.HostPath("/tmp/t/var/lib"); !ok || got != "/var/lib" {
		t.Fatalf("HostPath = %q, %v; want /var/lib, true", got, ok)
	}
	if _, ok := r.HostPath("/tmp/tt/var"); ok {
		t.Fatalf("HostPath(/tmp/tt/var) reported inside /tmp/t")
	}
	if got, ok := r.HostPath("/tmp/t"); !ok || got != "/" {
		t.Fatalf("HostPath(root) = %q, %v", got, ok)
	}
}
