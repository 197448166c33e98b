//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/left4me/left4me-deploy/internal/release"
	"github.com/left4me/left4me-deploy/internal/remote"
)

// fleetHosts is how many hosts TestFleet boots at once.
const fleetHosts = 4

// fleet is several booted hosts reached with one set of ssh flags.
type fleet struct {
	hosts []*Host
	ssh   []string // ssh flags for every host: each host's key, one known_hosts
	work  string
}

func (f *fleet) target(i int) string { return fmt.Sprintf("root@127.0.0.1:%d", f.hosts[i].Port) }

// hostsFile writes a --hosts file listing hosts idx, with a comment and a
// blank line as an operator would.
func (f *fleet) hostsFile(t *testing.T, name string, idx ...int) string {
	var b strings.Builder
	b.WriteString("# game hosts\n\n")
	for _, i := range idx {
		fmt.Fprintf(&b, "%s   # %s\n", f.target(i), f.hosts[i].Name)
	}
	p := filepath.Join(f.work, name)
	writeFile(t, p, b.String(), 0o644)
	return p
}

func bootFleet(t *testing.T, n int) *fleet {
	t.Helper()
	f := &fleet{work: t.TempDir()}
	var known strings.Builder
	f.ssh = []string{"-F", "/dev/null"}
	for i := 0; i < n; i++ {
		h := bootHost(t, fmt.Sprintf("fleet%d", i+1), nil)
		f.hosts = append(f.hosts, h)
		b, err := os.ReadFile(h.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(b)
	}
	// One client key for every host (sshd allows six tries, so one key
	// per host would not scale): the first host's key is authorized on all.
	pub, err := os.ReadFile(f.hosts[0].Key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.hosts[1:] {
		ak := filepath.Join(h.Dir, "root/.ssh/authorized_keys")
		b, err := os.ReadFile(ak)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, ak, string(b)+string(pub), 0o600)
	}
	f.ssh = append(f.ssh, "-i", f.hosts[0].Key)
	kh := filepath.Join(f.work, "known_hosts")
	writeFile(t, kh, known.String(), 0o600)
	f.ssh = append(f.ssh, "-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR")
	return f
}

// cliRun is one run of left4me-deploy from this machine.
type cliRun struct {
	args    []string
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
}

func (r cliRun) String() string {
	return fmt.Sprintf("left4me-deploy %s: exit %d after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code,
		r.elapsed.Round(100*time.Millisecond), tail(r.stdout, 60), tail(r.stderr, 20))
}

func runDeployCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	return runDeployCLIDir(t, moduleRoot(), args...)
}

// runDeployCLIDir runs left4me-deploy in dir.
func runDeployCLIDir(t *testing.T, dir string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "left4me-deploy"), args...)
	cmd.Dir = dir
	if dir == moduleRoot() {
		// A failed run's retry list goes to a temporary file, not the
		// checkout.
		cmd.Env = append(os.Environ(), "LEFT4ME_DEPLOY_RETRY_FILE="+filepath.Join(t.TempDir(), "left4me-deploy.retry"))
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := cliRun{args: args, stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}

// buildBundle builds the linux/amd64 host binaries of the module in src
// with the release build flags into a bundle directory (as scripts/dist
// lays it out) and returns it.
func buildBundle(t *testing.T, src, dir string) string {
	t.Helper()
	goBin, err := goTool()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "linux-amd64")
	args := append([]string{"build"}, remote.GoBuildFlags...)
	args = append(args, "-o", out+"/", "./cmd/...")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  linux-amd64/%s\n", hex.EncodeToString(s[:]), e.Name())
	}
	writeFile(t, filepath.Join(dir, remote.SumsFile), sums.String(), 0o644)
	return dir
}

// changedSource copies the module (no VCS, no tests) and changes it the
// way a new release would: every binary prints a different version line,
// and the web unit gains a line. It returns the copy.
func changedSource(t *testing.T) string {
	t.Helper()
	dst := copySource(t)
	edit := func(rel, old, new string) {
		p := filepath.Join(dst, rel)
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(old)) {
			t.Fatalf("make release B: %s lacks %q (%v)", rel, old, err)
		}
		os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
	}
	edit("internal/version/version.go", `s := i.Version + " commit "`, `s := i.Version + "-release-b commit "`)
	edit("artifacts/left4me-web.service.tmpl", "[Service]\n", "[Service]\n# release B\n")
	return dst
}

// copySource copies the module's sources (no VCS, no tests, no build
// output) into a new directory.
func copySource(t *testing.T) string {
	t.Helper()
	src, dst := moduleRoot(), t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := d.Name()
		if d.IsDir() {
			if p != src && (strings.HasPrefix(name, ".") || name == "tests" || name == "bin" || name == "dist") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// commitAll makes dir a git repository of one commit holding its files,
// so a build there is stamped with that commit; it returns the commit.
func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=left4me", "-c", "user.email=left4me@localhost", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err != nil || !fi.IsDir() {
		t.Fatalf("git init %s made no .git directory", dir)
	}
	git("add", "-A")
	git("commit", "-q", "-m", msg)
	return git("rev-parse", "HEAD")
}

// fleetStatus runs status --json over the fleet.
func fleetStatus(t *testing.T, f *fleet, bundle string, idx ...int) (cliRun, map[string]map[string]any) {
	t.Helper()
	args := append(append([]string{"status", "--json"}, f.ssh...), "--bundle", bundle)
	for _, i := range idx {
		args = append(args, f.target(i))
	}
	r := runDeployCLI(t, args...)
	rows := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row map[string]any
		if json.Unmarshal(sc.Bytes(), &row) == nil {
			rows[fmt.Sprint(row["host"])] = row
		}
	}
	return r, rows
}

// hostRelease reads the host's newest release record.
func hostRelease(c *C, h *Host) release.Release {
	c.Helper()
	out := h.MustRun(c, "tail -n1 "+release.HistoryFile)
	var r release.Release
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		c.Fatalf("release record on %s: %v: %q", h.Name, err, out)
	}
	return r
}

// installedSums hashes the files of rec as installed on h now.
func installedSums(c *C, h *Host, rec release.Release) map[string]string {
	c.Helper()
	var paths []string
	for p := range rec.Files {
		paths = append(paths, p)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(h.MustRun(c, "sha256sum "+strings.Join(paths, " "))), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			got[f[1]] = f[0]
		}
	}
	return got
}

// journalCursor marks the journal now, for webStarts.
func journalCursor(c *C, h *Host) string {
	c.Helper()
	out := h.MustRun(c, "journalctl -n0 --show-cursor --no-pager")
	_, cur, ok := strings.Cut(out, "-- cursor: ")
	if !ok {
		c.Fatalf("no journal cursor: %q", out)
	}
	return strings.TrimSpace(cur)
}

// webStarts counts how often systemd started the web unit after cursor.
func webStarts(c *C, h *Host, cursor string) int {
	c.Helper()
	out := h.Run(context.Background(), "journalctl --no-pager -o cat -u "+webUnit+" --after-cursor="+shellJoin([]string{cursor})+" | grep -c '^Started left4me-web' || true")
	n := 0
	fmt.Sscan(strings.TrimSpace(out.Stdout), &n)
	return n
}

// TestFleet is the day-two scenario on several booted hosts at once: a
// rolling deploy that stops as --max-fail says, status with drift and
// without, release A, release B, rollback to A and a rollback again.
func TestFleet(t *testing.T) {
	requireHostTools(t)
	t.Parallel()
	s := newScenario(t, "fleet of 4",
		"boot 4 hosts", "build releases A and B",
		"rolling deploy stops at --max-fail", "deploy A to every host", "status in sync", "status lists instances",
		"status shows a hand edit", "status in sync after redeploy",
		"canary deploy of B", "rollback to A", "second rollback changes nothing", "status after rollback")

	start := time.Now()
	f := bootFleet(t, fleetHosts)
	s.pass("boot 4 hosts", fmt.Sprintf("%d hosts in %s", fleetHosts, time.Since(start).Round(100*time.Millisecond)))

	var bundleA, bundleB string
	s.check("build releases A and B", []string{"boot 4 hosts"}, func(c *C) {
		bundleA = buildBundle(c.T, moduleRoot(), filepath.Join(f.work, "A"))
		bundleB = buildBundle(c.T, changedSource(c.T), filepath.Join(f.work, "B"))
		a, _ := os.ReadFile(filepath.Join(bundleA, "linux-amd64", "l4d2ctl"))
		b, _ := os.ReadFile(filepath.Join(bundleB, "linux-amd64", "l4d2ctl"))
		if bytes.Equal(a, b) {
			c.Fatalf("releases A and B have the same l4d2ctl")
		}
	})

	broken := 1 // the second host of the rollout fails
	s.check("rolling deploy stops at --max-fail", []string{"build releases A and B"}, func(c *C) {
		// A file where the unit directory belongs: the plan fails there.
		f.hosts[broken].MustRun(c, "mkdir -p /usr/local/lib/systemd && touch /usr/local/lib/systemd/system")
		hosts := f.hostsFile(c.T, "hosts-all", 0, 1, 2, 3)
		r := runDeployCLI(c.T, append(append([]string{}, f.ssh...), "--bundle", bundleA, "--serial", "1", "--max-fail", "1", "--hosts", hosts)...)
		if r.code != 1 {
			c.Fatalf("want exit 1: %s", r)
		}
		lines := summaryLines(r.stdout)
		want := map[string]string{f.target(0): " ok ", f.target(1): " FAILED ", f.target(2): " NOT RUN ", f.target(3): " NOT RUN "}
		for host, word := range want {
			if !strings.Contains(lines[host], word) {
				c.Errorf("summary line of %s = %q, want %q", host, lines[host], strings.TrimSpace(word))
			}
		}
		if !strings.Contains(lines[f.target(2)], "--max-fail 1") || !strings.Contains(r.stderr, "2 not run") {
			c.Errorf("summary does not say why hosts were not run: %s", r)
		}
		for _, i := range []int{2, 3} {
			if out := f.hosts[i].Run(context.Background(), "test -e "+release.StateDir); out.Code == 0 {
				c.Errorf("host %s was not to be touched, but has %s", f.hosts[i].Name, release.StateDir)
			}
		}
		c.Note("%s", strings.TrimSpace(lines[f.target(1)]))
	})

	s.check("deploy A to every host", []string{"rolling deploy stops at --max-fail"}, func(c *C) {
		f.hosts[broken].MustRun(c, "rm -f /usr/local/lib/systemd/system")
		r := runDeployCLI(c.T, append(append([]string{}, f.ssh...), "--bundle", bundleA, "--parallel", "4", "--hosts", f.hostsFile(c.T, "hosts-ok", 0, 1, 2, 3))...)
		if r.code != 0 {
			c.Fatalf("%s", r)
		}
		c.Note("4 hosts in %s", r.elapsed.Round(100*time.Millisecond))
	})

	all := []int{0, 1, 2, 3}
	s.check("status in sync", []string{"deploy A to every host"}, func(c *C) {
		r, rows := fleetStatus(c.T, f, bundleA, all...)
		if r.code != 0 || len(rows) != fleetHosts {
			c.Fatalf("status: %s", r)
		}
		for host, row := range rows {
			if row["result"] != "in-sync" {
				c.Errorf("%s: %v", host, row)
			}
		}
		c.Note("4 hosts in %s", r.elapsed.Round(100*time.Millisecond))
	})

	s.check("status lists instances", []string{"status in sync"}, func(c *C) {
		h := f.hosts[0]
		createInstance(c, h, "fleet-a")
		createInstance(c, h, "fleet-b")
		if r := h.AsWeb("l4d2ctl", "start", "fleet-a"); r.Code != 0 {
			c.Fatalf("l4d2ctl start fleet-a: %s", r)
		}
		requireServing(c, h, "fleet-a", 1)
		r, rows := fleetStatus(c.T, f, bundleA, 0)
		if r.code != 0 {
			c.Fatalf("status: %s", r)
		}
		st, _ := rows[f.target(0)]["status"].(map[string]any)
		list, _ := st["instances"].([]any)
		got := map[string]string{}
		for _, x := range list {
			m, _ := x.(map[string]any)
			got[fmt.Sprint(m["name"])] = fmt.Sprintf("mounted=%v %v", m["mounted"], m["state"])
		}
		want := map[string]string{"fleet-a": "mounted=true active", "fleet-b": "mounted=false inactive"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			c.Fatalf("status instances = %v, want %v\n%s", got, want, r.stdout)
		}
		text := runDeployCLI(c.T, append(append([]string{"status"}, f.ssh...), "--bundle", bundleA, f.target(0))...)
		if !strings.Contains(text.stdout, "2 (1 active, 1 mounted)") || !strings.Contains(text.stdout, "instance fleet-a: mounted, left4me-server@fleet-a.service active") {
			c.Errorf("status text: %s", text)
		}
		if r := h.AsWeb("l4d2ctl", "stop", "fleet-a"); r.Code != 0 {
			c.Errorf("l4d2ctl stop fleet-a: %s", r)
		}
	})

	s.check("status shows a hand edit", []string{"status in sync"}, func(c *C) {
		f.hosts[2].MustRun(c, "echo '# hand edit' >> /etc/sudoers.d/left4me")
		// The host no longer runs what it recorded (exit 5), and a deploy
		// of A would repair it (drift).
		r, rows := fleetStatus(c.T, f, bundleA, all...)
		if r.code != 5 {
			c.Fatalf("want exit 5 (diverged from its record): %s", r)
		}
		for i, host := range []string{f.target(0), f.target(1), f.target(2), f.target(3)} {
			want := "in-sync"
			if i == 2 {
				want = "diverged"
			}
			if rows[host]["result"] != want {
				c.Errorf("%s: result %v, want %s", host, rows[host]["result"], want)
			}
		}
		text := runDeployCLI(c.T, append(append([]string{"status"}, f.ssh...), "--bundle", bundleA, f.target(2))...)
		if text.code != 5 || !strings.Contains(text.stdout, f.target(2)+": drift: sudoers: would install /etc/sudoers.d/left4me") ||
			!strings.Contains(text.stdout, f.target(2)+": recorded: installed files differ from the newest record: /etc/sudoers.d/left4me") {
			c.Errorf("status text: %s", text)
		}
	})

	s.check("status in sync after redeploy", []string{"status shows a hand edit"}, func(c *C) {
		if r := runDeployCLI(c.T, append(append([]string{}, f.ssh...), "--bundle", bundleA, f.target(2))...); r.code != 0 {
			c.Fatalf("redeploy: %s", r)
		}
		if r, _ := fleetStatus(c.T, f, bundleA, all...); r.code != 0 {
			c.Fatalf("status after the redeploy: %s", r)
		}
	})

	var relA release.Release
	s.check("canary deploy of B", []string{"status in sync after redeploy"}, func(c *C) {
		relA = hostRelease(c, f.hosts[0])
		r := runDeployCLI(c.T, append(append([]string{}, f.ssh...), "--bundle", bundleB, "--canary", "--hosts", f.hostsFile(c.T, "hosts-b", 0, 1, 2, 3))...)
		if r.code != 0 {
			c.Fatalf("%s", r)
		}
		for _, h := range f.hosts {
			relB := hostRelease(c, h)
			if relB.ID == relA.ID || relB.Kind != release.KindDeploy {
				c.Errorf("%s after deploying B: release %+v, A was %s", h.Name, relB, relA.ID)
			}
			if out := h.MustRun(c, "/usr/local/bin/l4d2ctl --version"); !strings.Contains(out, "-release-b commit") {
				c.Errorf("%s: l4d2ctl --version = %q, want release B", h.Name, out)
			}
		}
	})

	var cursors []string
	s.check("rollback to A", []string{"canary deploy of B"}, func(c *C) {
		for _, h := range f.hosts {
			cursors = append(cursors, journalCursor(c, h))
		}
		dry := runDeployCLI(c.T, append(append([]string{"rollback", "--dry-run", "--json"}, f.ssh...), "--bundle", bundleA, f.target(0))...)
		if dry.code != 0 || !strings.Contains(dry.stdout, `"changed":`) {
			c.Fatalf("rollback --dry-run: %s", dry)
		}
		if got := hostRelease(c, f.hosts[0]); got.Kind != release.KindDeploy {
			c.Fatalf("rollback --dry-run recorded %+v", got)
		}
		r := runDeployCLI(c.T, append(append([]string{"rollback"}, f.ssh...), "--bundle", bundleA, "--hosts", f.hostsFile(c.T, "hosts-rb", 0, 1, 2, 3))...)
		if r.code != 0 || !strings.Contains(r.stdout, "the migration is not undone") {
			c.Fatalf("rollback: %s", r)
		}
		for i, h := range f.hosts {
			got := installedSums(c, h, relA)
			for p, sum := range relA.Files {
				if got[p] != sum {
					c.Errorf("%s: %s has sha256 %.12s after rollback, want A's %.12s", h.Name, p, got[p], sum)
				}
			}
			rec := hostRelease(c, h)
			if rec.Kind != release.KindRollback || rec.ID != relA.ID {
				c.Errorf("%s: last record %s %s, want rollback to %s", h.Name, rec.Kind, rec.ID, relA.ID)
			}
			if n := webStarts(c, h, cursors[i]); n != 1 {
				c.Errorf("%s: web unit started %d times by the rollback, want once", h.Name, n)
			}
			h.MustRun(c, "test -f "+sentinel)
			checkWebUnit(c, h)
		}
		c.Note("4 hosts in %s", r.elapsed.Round(100*time.Millisecond))
	})

	s.check("second rollback changes nothing", []string{"rollback to A"}, func(c *C) {
		var hist []string
		for i, h := range f.hosts {
			hist = append(hist, h.MustRun(c, "cat "+release.HistoryFile))
			cursors[i] = journalCursor(c, h)
		}
		r := runDeployCLI(c.T, append(append([]string{"rollback"}, f.ssh...), "--bundle", bundleA, "--hosts", f.hostsFile(c.T, "hosts-rb2", 0, 1, 2, 3))...)
		if r.code != 0 {
			c.Fatalf("%s", r)
		}
		for _, l := range summaryLines(r.stdout) {
			if !strings.Contains(l, "changed=0") {
				c.Errorf("second rollback: %q, want changed=0", l)
			}
		}
		for i, h := range f.hosts {
			if got := h.MustRun(c, "cat "+release.HistoryFile); got != hist[i] {
				c.Errorf("%s: the second rollback wrote the history", h.Name)
			}
			if n := webStarts(c, h, cursors[i]); n != 0 {
				c.Errorf("%s: web unit started %d times by the second rollback, want 0", h.Name, n)
			}
		}
	})

	s.check("status after rollback", []string{"second rollback changes nothing"}, func(c *C) {
		if r, _ := fleetStatus(c.T, f, bundleA, all...); r.code != 0 {
			c.Errorf("status against A after the rollback: %s", r)
		}
		if r, _ := fleetStatus(c.T, f, bundleB, 0); r.code != 3 {
			c.Errorf("status against B after the rollback: want drift (3): %s", r)
		}
	})
}

// summaryLines maps each host of the text summary to its line.
func summaryLines(out string) map[string]string {
	lines := map[string]string{}
	_, sum, ok := strings.Cut(out, "\nsummary:\n")
	if !ok {
		if !strings.HasPrefix(out, "summary:\n") {
			return lines
		}
		sum = strings.TrimPrefix(out, "summary:\n")
	}
	for _, l := range strings.Split(sum, "\n") {
		host, _, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && strings.HasPrefix(l, "  ") {
			// host:port contains a colon: take up to the first ": ".
			h, _, _ := strings.Cut(strings.TrimSpace(l), ": ")
			if h == "" {
				h = host
			}
			lines[strings.TrimSuffix(h, ":")] = l + " "
		}
	}
	return lines
}
