//go:build linux

package ctl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
)

func writeInstanceEnv(t *testing.T, root, name, content string) string {
	t.Helper()
	p := hostpath.Root(root).Join(hostpath.InstanceEnv(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerCommand(t *testing.T) {
	root := t.TempDir()
	writeInstanceEnv(t, root, "a", "LOWERDIRS=/var/lib/left4me/installation\nSRCDS_ARGS=+map c1m1_hotel  -port 27015\nHOME=/from/env\n")
	argv, env, err := ServerCommand(hostpath.Root(root), "a", []string{"HOME=/var/lib/left4me", "INVOCATION_ID=x"})
	if err != nil {
		t.Fatalf("ServerCommand = %v", err)
	}
	wantArgv := []string{"./srcds_run", "-game", "left4dead2", "+map", "c1m1_hotel", "-port", "27015"}
	if !reflect.DeepEqual(argv, wantArgv) {
		t.Errorf("argv = %q, want %q", argv, wantArgv)
	}
	wantEnv := []string{"INVOCATION_ID=x", "HOME=/from/env", "LOWERDIRS=/var/lib/left4me/installation", "SRCDS_ARGS=+map c1m1_hotel  -port 27015"}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("env = %q, want %q", env, wantEnv)
	}
}

func TestServerCommandRefuses(t *testing.T) {
	root := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.env")
	os.WriteFile(secret, []byte("TOKEN=s3cret\n"), 0o600)
	link := writeInstanceEnv(t, root, "link", "")
	os.Remove(link)
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	fifo := writeInstanceEnv(t, root, "fifo", "")
	os.Remove(fifo)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	writeInstanceEnv(t, root, "bad", "no equals sign\n")
	for _, tt := range []struct{ name, why string }{
		{"../x", "invalid name"},
		{"missing", "no instance.env"},
		{"link", "instance.env is a symlink"},
		{"fifo", "instance.env is a FIFO"},
		{"bad", "instance.env is malformed"},
	} {
		argv, env, err := ServerCommand(hostpath.Root(root), tt.name, nil)
		if err == nil {
			t.Errorf("ServerCommand(%q) = %q, %q; want an error (%s)", tt.name, argv, env, tt.why)
		}
	}
	if _, _, err := ServerCommand(hostpath.Root(root), "../x", nil); !errors.Is(err, instance.ErrInvalidName) {
		t.Errorf("ServerCommand(../x) = %v, want ErrInvalidName", err)
	}
}
