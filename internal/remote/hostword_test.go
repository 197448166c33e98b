package remote

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/left4me/left4me-deploy/internal/testenv"
)

func TestLooksLikeHost(t *testing.T) {
	for spec, want := range map[string]bool{
		"root@h": true, "h:2222": true, "[::1]:22": true, "game1.example": true, "10.0.0.1": true,
		"fe80::1": true, "game1": false, "rolback": false,
	} {
		tg, err := ParseHost(spec)
		if err != nil {
			t.Fatalf("ParseHost(%q): %v", spec, err)
		}
		if got := LooksLikeHost(tg); got != want {
			t.Errorf("LooksLikeHost(%q) = %v, want %v", spec, got, want)
		}
	}
}

// The operator's real ssh decides whether a bare word is an alias: a Host
// block with HostName, a Host block with other settings, a Match on the
// name. "Host *" does not make every word a host.
func TestSSHAliases(t *testing.T) {
	testenv.RequireBinary(t, "ssh", "openssh-client")
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(cfg, []byte(`Host game1
  HostName 127.0.0.1
Host game2 game3
  User deploy
Host edge-*
  Port 2222
Host *
  ServerAliveInterval 15
  BatchMode yes
`), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &SSHAliases{Ctx: t.Context(), Config: cfg}
	for word, want := range map[string]bool{"game1": true, "game2": true, "game3": true, "edge-7": true, "rolback": false, "game": false, "yes": false,
		"15": true, // ssh reads it as the address 0.0.0.15
	} {
		got, err := h.IsAlias(word)
		if err != nil || got != want {
			t.Errorf("IsAlias(%q) = %v, %v; want %v", word, got, err, want)
		}
	}
}
