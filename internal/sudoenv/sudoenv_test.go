package sudoenv

import "testing"

func TestStarted(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"plain", map[string]string{"LEFT4ME_ROOT": "/tmp/x"}, false},
		{"sudo", map[string]string{"SUDO_UID": "1000", "SUDO_USER": "u", "SUDO_COMMAND": "/x", "SUDO_GID": "1000"}, true},
		{"one var", map[string]string{"SUDO_COMMAND": "/x"}, true},
		{"empty value still counts", map[string]string{"SUDO_UID": ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if got := Started(lookup); got != tt.want {
				t.Fatalf("Started(%v) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}
