//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestTranscript runs the day-two verbs the way an operator types them
// against three booted hosts and compares every command, its output and
// its exit status with the transcripts of docs/operations.md (package
// transcript; -update rewrites them). The hosts are reached through an
// ssh_config file, as an operator's would be.
func TestTranscript(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
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

	// Each block of docs/operations.md collects into its own builder.
	blocks := map[string]*strings.Builder{}
	var order []string
	doc := func(name string) *strings.Builder {
		if blocks[name] == nil {
			blocks[name] = &strings.Builder{}
			order = append(order, name)
		}
		return blocks[name]
	}
	shown := func(s string) string {
		s = strings.ReplaceAll(s, f.work+"/", "")
		s = strings.ReplaceAll(s, f.work, ".")
		return s
	}
	cmd := func(b *strings.Builder, args ...string) cliRun {
		r := runDeployCLIDir(t, f.work, args...)
		fmt.Fprintf(b, "$ left4me-deploy %s\n%s%s(exit %d)\n\n", shown(strings.Join(args, " ")), groupByHost(shown(r.stdout), ""), groupByHost(shown(r.stderr), shown(r.stdout)), r.code)
		return r
	}
	onHost := func(b *strings.Builder, i int, script string) {
		fmt.Fprintf(b, "(on %s) $ %s\n%s\n", f.target(i), script, f.hosts[i].MustRun(t, script))
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

	doc("ops-hosts").WriteString("$ cat hosts.txt\n" + shown(readFile(t, filepath.Join(f.work, "hosts.txt"))))
	cmd(doc("ops-canary"), with("--bundle", "dist/A", "--canary", "--hosts", "hosts.txt")...)
	v := doc("ops-versions")
	cmd(v, "--version")
	for _, name := range []string{"dist/A/linux-amd64/left4me-deploy", "dist/B/linux-amd64/l4d2ctl"} {
		b, _ := exec.Command(filepath.Join(f.work, name), "--version").CombinedOutput()
		v.WriteString("$ " + name + " --version\n" + string(b) + "\n")
	}
	for _, p := range []string{"left4me-deploy", "/usr/local/bin/l4d2ctl", "/usr/local/libexec/left4me/left4me-overlay"} {
		onHost(v, 0, p+" --version")
	}
	cmd(doc("ops-status"), with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	d := doc("ops-status-drift")
	f.hosts[1].MustRun(t, "echo '# hand edit' >> /etc/sudoers.d/left4me")
	d.WriteString("(on " + f.target(1) + ": echo '# hand edit' >> /etc/sudoers.d/left4me)\n\n")
	cmd(d, with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	cmd(doc("ops-status-json"), with("status", "--json", "--bundle", "dist/A", f.target(1))...)
	cmd(d, with("--bundle", "dist/A", f.target(1))...)
	m := doc("ops-max-fail")
	f.hosts[2].MustRun(t, "mkdir -p /usr/local/lib/systemd && rm -rf /usr/local/lib/systemd/system && touch /usr/local/lib/systemd/system")
	m.WriteString("(on " + f.target(2) + ": a file where the unit directory belongs, so its deploy fails)\n\n")
	cmd(m, with("--bundle", "dist/B", "--serial", "1", "--max-fail", "1", f.target(2), f.target(0), f.target(1))...)
	f.hosts[2].MustRun(t, "rm -f /usr/local/lib/systemd/system")
	rb := doc("ops-rollback")
	rb.WriteString("(on " + f.target(2) + ": rm /usr/local/lib/systemd/system)\n\n")
	cmd(rb, with("--bundle", "dist/B", "--hosts", "hosts.txt")...)
	cmd(rb, with("rollback", "--bundle", "dist/B", "--dry-run", f.target(0))...)
	cmd(rb, with("rollback", "--bundle", "dist/B", "--hosts", "hosts.txt")...)
	cmd(rb, with("rollback", "--bundle", "dist/B", f.target(0))...)
	cmd(rb, with("status", "--bundle", "dist/A", "--hosts", "hosts.txt")...)
	cmd(doc("ops-status-down"), with("status", "--bundle", "dist/A", "root@127.0.0.1:1", f.target(0))...)
	r := doc("ops-releases")
	onHost(r, 0, "tail -n 3 /var/lib/left4me-deploy/releases.jsonl | cut -d, -f1-4")
	onHost(r, 0, "cd /var/lib/left4me-deploy/releases && find . -path './*/files' -prune -o -print | sort | xargs stat -c '%A %U:%G %n'")
	for _, name := range order {
		checkTranscript(t, "docs/operations.md", name, strings.TrimRight(blocks[name].String(), "\n")+"\n")
	}
}

// hostLine is a line a rollout prints for one host: "user@host:port: ...".
var hostLine = regexp.MustCompile(`^(\S+@\S+?:\d+): `)

// groupByHost puts the lines that hosts deploying at once printed as they
// came into one group per host, in the order of the hosts in the summary
// (the order they were given in), so a transcript of parallel hosts does
// not depend on their timing. Within a group, the plan's own error lines
// ("HOST:   left4me-deploy: ...", its stderr, which races its events) go
// last. Lines that belong to no host (the summary) stay where they are.
// The summary that orders the hosts is read from s and from order (the
// stdout of a run whose stderr is s: its progress lines race between hosts
// too, and name no summary of their own).
func groupByHost(s, order string) string {
	lines := strings.SplitAfter(s, "\n")
	rank := map[string]int{}
	for _, l := range append(strings.SplitAfter(order, "\n"), lines...) {
		if m := summaryHost.FindStringSubmatch(l); m != nil {
			if _, ok := rank[m[1]]; !ok {
				rank[m[1]] = len(rank)
			}
		}
	}
	var out []string
	for i := 0; i < len(lines); {
		if hostLine.FindStringSubmatch(lines[i]) == nil {
			out = append(out, lines[i])
			i++
			continue
		}
		groups := map[string][]string{}
		errs := map[string][]string{}
		var hosts []string
		for ; i < len(lines); i++ {
			m := hostLine.FindStringSubmatch(lines[i])
			if m == nil {
				break
			}
			if groups[m[1]] == nil && errs[m[1]] == nil {
				hosts = append(hosts, m[1])
			}
			if strings.HasPrefix(lines[i][len(m[0]):], "  left4me-deploy: ") {
				errs[m[1]] = append(errs[m[1]], lines[i])
			} else {
				groups[m[1]] = append(groups[m[1]], lines[i])
			}
		}
		sort.SliceStable(hosts, func(a, b int) bool {
			ra, oka := rank[hosts[a]]
			rb, okb := rank[hosts[b]]
			return oka && (!okb || ra < rb)
		})
		for _, h := range hosts {
			out = append(out, groups[h]...)
			out = append(out, errs[h]...)
		}
	}
	return strings.Join(out, "")
}

// summaryHost is a host's line in a rollout summary: "  HOST:  ok ...".
var summaryHost = regexp.MustCompile(`^  (\S+@\S+?:\d+): `)

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
