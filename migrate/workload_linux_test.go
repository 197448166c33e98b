//go:build linux

package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// op is one step of a workload on a fuse-overlayfs mount, run in the
// mount as the fuse user. An op that fails (renaming a missing name,
// removing a non-empty dir) is part of the workload all the same: the
// file system decides, and both views see the outcome.
type op struct {
	Op   string `json:"op"`
	P    string `json:"p"`
	To   string `json:"to,omitempty"` // rename/link target, xattr name
	Data string `json:"d,omitempty"`  // content, symlink target, xattr value
	N    int64  `json:"n,omitempty"`  // truncate size, chmod mode
}

// GoString is the op as a Go literal, for the table of shrunk sequences.
func (o op) GoString() string {
	s := fmt.Sprintf("{Op: %q, P: %q", o.Op, o.P)
	if o.To != "" {
		s += fmt.Sprintf(", To: %q", o.To)
	}
	if o.Data != "" {
		s += fmt.Sprintf(", Data: %q", o.Data)
	}
	switch {
	case o.Op == "chmod":
		s += fmt.Sprintf(", N: 0o%o", o.N)
	case o.N != 0:
		s += fmt.Sprintf(", N: %d", o.N)
	}
	return s + "}"
}

func goSequence(ops []op) string {
	var b strings.Builder
	b.WriteString("[]op{\n")
	for _, o := range ops {
		b.WriteString("\t" + o.GoString() + ",\n")
	}
	b.WriteString("}")
	return b.String()
}

// apply runs o in the current directory (the mount).
func (o op) apply() error {
	switch o.Op {
	case "create", "append":
		// O_NONBLOCK: a FIFO without a reader fails instead of blocking.
		flags := os.O_WRONLY | os.O_APPEND | unix.O_NONBLOCK
		if o.Op == "create" {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | unix.O_NONBLOCK
		}
		f, err := os.OpenFile(o.P, flags, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(o.Data)
		return errors.Join(err, f.Close())
	case "truncate":
		return os.Truncate(o.P, o.N)
	case "mkdir":
		return os.Mkdir(o.P, 0o755)
	case "mkdirp":
		return os.MkdirAll(o.P, 0o755)
	case "rename":
		return os.Rename(o.P, o.To)
	case "rm":
		return os.Remove(o.P)
	case "rmrf":
		// os.RemoveAll opens the parent with a plain open, which blocks on
		// a FIFO: rm -rf says ENOTDIR there.
		if d := path.Dir(o.P); d != "." {
			if fi, err := os.Lstat(d); err == nil && !fi.IsDir() {
				return unix.ENOTDIR
			}
		}
		return os.RemoveAll(o.P)
	case "symlink":
		return os.Symlink(o.Data, o.P)
	case "link":
		return os.Link(o.P, o.To)
	case "mkfifo":
		return unix.Mkfifo(o.P, 0o644)
	case "chmod":
		// A dir keeps its owner's rwx: without them neither view can be
		// read in full, and the two file systems refuse differently.
		mode := uint32(o.N)
		if fi, err := os.Lstat(o.P); err == nil && fi.IsDir() {
			mode |= 0o700
		}
		return unix.Fchmodat(unix.AT_FDCWD, o.P, mode, 0)
	case "setxattr":
		return unix.Lsetxattr(o.P, "user."+o.To, []byte(o.Data), 0)
	case "rmxattr":
		return unix.Lremovexattr(o.P, "user."+o.To)
	}
	return fmt.Errorf("unknown op %q", o.Op)
}

// runOps is the helper-process mode that applies the ops in the file
// named by L4M_TMG_OPS in the current directory and prints each outcome.
func runOps(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var ops []op
	if err := json.Unmarshal(b, &ops); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, o := range ops {
		res := "ok"
		if err := o.apply(); err != nil {
			res = errText(err)
		}
		fmt.Printf("%s %s\n", o.GoString(), res)
	}
	return 0
}

// gameLayers are the lower layers of the randomised workload, top first,
// shaped like a game install: a config layer and a mods layer over the
// installation, with names that exist in more than one of them.
var gameLayers = []struct {
	dir   string // under the state dir
	files []string
}{
	{"overlays/cfg", []string{
		"left4dead2/cfg/server.cfg", "left4dead2/cfg/motd.txt", "left4dead2/addons/cfg.vpk",
	}},
	{"overlays/mods", []string{
		"left4dead2/addons/mod1.vpk", "left4dead2/addons/workshop/3.vpk",
		"left4dead2/scripts/vscripts/a.nut", "left4dead2/maps/custom/m.bsp", "left4dead2/cfg/server.cfg",
	}},
	{"installation", []string{
		"srcds_run", "left4dead2/gameinfo.txt",
		"left4dead2/addons/a.vpk", "left4dead2/addons/b.vpk", "left4dead2/addons/workshop/1.vpk", "left4dead2/addons/workshop/2.vpk",
		"left4dead2/maps/c1m1.bsp", "left4dead2/maps/c1m2.bsp",
		"left4dead2/cfg/server.cfg", "left4dead2/cfg/autoexec.cfg",
		"left4dead2/scripts/vscripts/a.nut", "left4dead2/scripts/vscripts/sub/b.nut",
		"left4dead2/sound/x.wav", "left4dead2/sound/deep/er/y.wav",
	}},
}

// gen makes random op sequences over the game layers. It keeps a guess of
// which paths exist, so that most ops hit something; the guess need not be
// right.
type gen struct {
	r      *rand.Rand
	known  map[string]bool // path -> is a dir (guessed)
	gone   []string        // removed dirs, to re-create
	serial int
}

func newGen(seed int64) *gen {
	g := &gen{r: rand.New(rand.NewSource(seed)), known: map[string]bool{}}
	for _, l := range gameLayers {
		for _, f := range l.files {
			g.known[f] = false
			for d := path.Dir(f); d != "."; d = path.Dir(d) {
				g.known[d] = true
			}
		}
	}
	return g
}

func (g *gen) paths(dirs bool) []string {
	var out []string
	for p, d := range g.known {
		if !dirs || d {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (g *gen) any() string {
	ps := g.paths(false)
	if len(ps) == 0 {
		return g.newPath()
	}
	return ps[g.r.Intn(len(ps))]
}

func (g *gen) dir() string {
	if g.r.Intn(8) == 0 {
		return "."
	}
	ds := g.paths(true)
	if len(ds) == 0 {
		return "."
	}
	return ds[g.r.Intn(len(ds))]
}

// name is a new name, now and then a long one (up to the 255-byte limit).
func (g *gen) name() string {
	g.serial++
	switch g.r.Intn(10) {
	case 0:
		return fmt.Sprintf("long%d-%s", g.serial, strings.Repeat("x", 200+g.r.Intn(40)))
	case 1:
		return fmt.Sprintf("n%d", g.r.Intn(3)) // names that collide
	}
	return fmt.Sprintf("n%d", g.serial)
}

func join2(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (g *gen) newPath() string { return join2(g.dir(), g.name()) }

// target is an existing path (to replace it) or a new one.
func (g *gen) target() string {
	if g.r.Intn(3) == 0 {
		return g.any()
	}
	return g.newPath()
}

func (g *gen) forget(p string) {
	for k := range g.known {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(g.known, k)
		}
	}
}

func (g *gen) move(from, to string) {
	moved := map[string]bool{}
	for k, d := range g.known {
		if k == from || strings.HasPrefix(k, from+"/") {
			moved[to+k[len(from):]] = d
		}
	}
	if len(moved) == 0 {
		return
	}
	g.forget(to)
	g.forget(from)
	for k, d := range moved {
		g.known[k] = d
	}
}

func (g *gen) addDirs(p string) {
	for d := p; d != "." && d != ""; d = path.Dir(d) {
		g.known[d] = true
	}
}

// ops returns a sequence of n ops.
func (g *gen) ops(n int) []op {
	var out []op
	for len(out) < n {
		out = append(out, g.next()...)
	}
	return out
}

func (g *gen) next() []op {
	data := func() string { return fmt.Sprintf("data %d\n", g.r.Intn(1000)) }
	switch k := g.r.Intn(100); {
	case k < 12:
		p := g.target()
		g.known[p] = false
		return []op{{Op: "create", P: p, Data: data()}}
	case k < 18:
		return []op{{Op: "append", P: g.any(), Data: data()}}
	case k < 22:
		return []op{{Op: "truncate", P: g.any(), N: int64(g.r.Intn(3))}}
	case k < 27:
		p := g.newPath()
		g.known[p] = true
		return []op{{Op: "mkdir", P: p}}
	case k < 31:
		p := g.newPath()
		for i := g.r.Intn(6); i > 0; i-- {
			p += "/" + g.name()
		}
		g.addDirs(p)
		return []op{{Op: "mkdirp", P: p}}
	case k < 45:
		from, to := g.any(), g.target()
		if g.r.Intn(2) == 0 { // within its dir
			to = join2(path.Dir(from), g.name())
		}
		g.move(from, to)
		return []op{{Op: "rename", P: from, To: to}}
	case k < 51:
		p := g.any()
		g.forget(p)
		return []op{{Op: "rm", P: p}}
	case k < 58:
		p := g.any()
		if g.known[p] {
			g.gone = append(g.gone, p)
		}
		g.forget(p)
		return []op{{Op: "rmrf", P: p}}
	case k < 64:
		// Re-create a removed dir, deeper than before.
		if len(g.gone) == 0 {
			return nil
		}
		p := g.gone[g.r.Intn(len(g.gone))] + "/" + g.name()
		g.addDirs(p)
		return []op{{Op: "mkdirp", P: p}, {Op: "create", P: p + "/f", Data: data()}}
	case k < 69:
		// fuse-overlayfs#306: rm -rf a; mkdir -p a/b; mv a/b elsewhere,
		// with a/b a name of a lower layer.
		var pairs [][2]string
		for p, d := range g.known {
			if d && path.Dir(p) != "." && g.known[path.Dir(p)] {
				pairs = append(pairs, [2]string{path.Dir(p), p})
			}
		}
		if len(pairs) == 0 {
			return nil
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i][1] < pairs[j][1] })
		pr := pairs[g.r.Intn(len(pairs))]
		to := g.newPath()
		g.forget(pr[0])
		g.addDirs(pr[1])
		g.move(pr[1], to)
		return []op{{Op: "rmrf", P: pr[0]}, {Op: "mkdirp", P: pr[1]}, {Op: "rename", P: pr[1], To: to}}
	case k < 74:
		p := g.newPath()
		g.known[p] = false
		targets := []string{g.any(), "../" + g.any(), "/nonexistent/" + g.name()}
		return []op{{Op: "symlink", P: p, Data: targets[g.r.Intn(len(targets))]}}
	case k < 79:
		from, to := g.any(), g.newPath()
		g.known[to] = false
		return []op{{Op: "link", P: from, To: to}}
	case k < 82:
		p := g.newPath()
		g.known[p] = false
		return []op{{Op: "mkfifo", P: p}}
	case k < 89:
		// Files get any of these; dirs keep the owner's rwx, so that
		// both views can be read in full.
		modes := []int64{0o600, 0o640, 0o644, 0o400, 0o700, 0o750, 0o755}
		p := g.any()
		if g.known[p] {
			modes = modes[4:]
		}
		return []op{{Op: "chmod", P: p, N: modes[g.r.Intn(len(modes))]}}
	case k < 96:
		return []op{{Op: "setxattr", P: g.any(), To: fmt.Sprintf("k%d", g.r.Intn(3)), Data: data()}}
	default:
		return []op{{Op: "rmxattr", P: g.any(), To: fmt.Sprintf("k%d", g.r.Intn(3))}}
	}
}
