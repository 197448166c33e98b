//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTranscript runs the day-two verbs the way an operator types them
// against three booted hosts and writes every command with its output and
// exit status to $LEFT4ME_TRANSCRIPT (docs/operations.md quotes it). The
// hosts are reached through an ssh_config file, as an operator's would be.
func TestTranscript(t *testing.T) {
	out := os.Getenv("LEFT4ME_TRANSCRIPT")
	if out == "" {
		t.Skip("writes a transcript for the docs: set LEFT4ME_TRANSCRIPT=FILE")
	}
	requireHostTools(t)
	f := bootFleet(t, 3)
	var cfg strings.Builder
	cfg.WriteString("Host 127.0.0.1\n  User root\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n")
	cfg.WriteString("  UserKnownHostsFile " + filepath.Join(f.work, "known_hosts") + "\n")
	cfg.WriteString("  IdentityFile " + f.hosts[0].Key + "\n")
	writeFile(t, filepath.Join(f.work, "ssh_config"), cfg.String(), 0o600)
	os.MkdirAll(filepath.Join(f.work, "dist"), 0o755)
	// Both releases are built from git commits, so they carry versions.
	srcA, srcB := copySource(t), changedSource(t)
	commitAll(t, srcA, "release A")
	commitAll(t, srcB, "release B")
	buildBundle(t, srcA, filepath.Join(f.work, "dist", "A"))
	buildBundle(t, srcB, filepath.Join(f.work, "dist", "B"))
	hosts := f.hostsFile(t, "hosts.txt", 0, 1, 2)
	os.Rename(hosts, filepath.Join(f.work, "hosts.txt"))

	var doc strings.Builder
	shown := func(s string) string {
		s = strings.ReplaceAll(s, f.work+"/", "")
		s = strings.ReplaceAll(s, f.work, ".")
		return s
	}
	cmd := func(args ...string) cliRun {
		r := runDeployCLIDir(t, f.work, args...)
		fmt.Fprintf(&doc, "$ left4me-deploy %s\n%s%s(exit %d)\n\n", shown(strings.Join(args, " ")), shown(r.stdout), shown(r.stderr), r.code)
		return r
	}
	ssh := []string{"-F", "ssh_config"}
	// The verb first, then the ssh flags, then the rest.
	with := func(a ...string) []string {
		switch a[0] {
		case "status", "rollback":
			return append(append([]string{a[0]}, ssh...), a[1:]...)
		}
		return append(append([]string{}, ssh...), a...)
	}

	doc.WriteString("$ cat hosts.txt\n" + shown(readFile(t, filepath.Join(f.work, "hosts.txt"))) + "\n")
	cmd("--version")
	for _, name := range []string{"dist/A/linux-amd64/left4me-deploy", "dist/B/linux-amd64/l4d2ctl"} {
		b, _ := exec.Command(filepath.Join(f.work, name), "--version").CombinedOutput()
		doc.WriteString("$ " + name + " --version\n" + string(b) + "\n")
	}
	cmd(with("--bundle", "dist/A", "--canary", "--hosts", "hosts.txt")...)
	cmd(with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	for _, p := range []string{"/usr/local/bin/l4d2ctl", "/usr/local/libexec/left4me/left4me-overlay"} {
		doc.WriteString("(on " + f.target(0) + ") $ " + p + " --version\n" + f.hosts[0].MustRun(t, p+" --version") + "\n")
	}
	f.hosts[1].MustRun(t, "echo '# hand edit' >> /etc/sudoers.d/left4me")
	doc.WriteString("(on " + f.target(1) + ": echo '# hand edit' >> /etc/sudoers.d/left4me)\n\n")
	cmd(with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	cmd(with("status", "--json", "--bundle", "dist/A", f.target(1))...)
	cmd(with("--bundle", "dist/A", f.target(1))...)
	f.hosts[2].MustRun(t, "mkdir -p /usr/local/lib/systemd && rm -rf /usr/local/lib/systemd/system && touch /usr/local/lib/systemd/system")
	doc.WriteString("(on " + f.target(2) + ": a file where the unit directory belongs, so its deploy fails)\n\n")
	cmd(with("--bundle", "dist/B", "--serial", "1", "--max-fail", "1", f.target(2), f.target(0), f.target(1))...)
	f.hosts[2].MustRun(t, "rm -f /usr/local/lib/systemd/system")
	doc.WriteString("(on " + f.target(2) + ": rm /usr/local/lib/systemd/system)\n\n")
	cmd(with("--bundle", "dist/B", "--hosts", "hosts.txt")...)
	cmd(with("rollback", "--bundle", "dist/B", "--dry-run", f.target(0))...)
	cmd(with("rollback", "--bundle", "dist/B", "--hosts", "hosts.txt")...)
	cmd(with("rollback", "--bundle", "dist/B", f.target(0))...)
	cmd(with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	cmd(with("status", "--bundle", "dist/A", "root@127.0.0.1:1", f.target(0))...)
	doc.WriteString("(on " + f.target(0) + ") $ tail -n 3 /var/lib/left4me-deploy/releases.jsonl | cut -c1-160\n")
	doc.WriteString(f.hosts[0].MustRun(t, "tail -n 3 /var/lib/left4me-deploy/releases.jsonl | cut -c1-160") + "\n")
	doc.WriteString("(on " + f.target(0) + ") $ ls -l /var/lib/left4me-deploy/releases/*/ /var/lib/left4me-deploy/releases/*/bin\n")
	doc.WriteString(f.hosts[0].MustRun(t, "ls -l /var/lib/left4me-deploy/releases/*/ /var/lib/left4me-deploy/releases/*/bin") + "\n")
	if err := os.WriteFile(out, []byte(doc.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
