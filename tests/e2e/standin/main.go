//go:build linux

// Command standin plays the parts of the booted-host test that are not part
// of left4me-deploy: the web app that runs in left4me-web.service, the
// client through which the test asks that web app to run a command (as the
// real web app runs l4d2ctl), and a lister that records a directory tree as
// a comparable "view" for the migration checks.
//
//	standin web  -socket PATH            serve commands on a Unix socket
//	standin call -socket PATH -- ARGV..  run ARGV inside the web process
//	standin view DIR                     print DIR's tree, one line per entry
//
// Installed as left4me-web (the web unit's default ExecStart), it is
// "standin web -socket " + DefaultSocket.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/treeview"
)

// DefaultSocket is where the web stand-in serves when started as
// left4me-web: in the state root, which the web app may write to.
const DefaultSocket = "/var/lib/left4me/.e2e-web.sock"

func main() {
	if filepath.Base(os.Args[0]) == "left4me-web" {
		os.Args = append([]string{os.Args[0], "web", "-socket", DefaultSocket}, os.Args[1:]...)
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: standin web|call|view ...")
		os.Exit(2)
	}
	var err error
	code := 0
	switch os.Args[1] {
	case "web":
		err = web(os.Args[2:])
	case "call":
		code, err = call(os.Args[2:])
	case "view":
		err = view(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown verb %q (want web, call or view)", os.Args[1])
		code = 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// request is what call sends to web: the command to run.
type request struct {
	Argv []string `json:"argv"`
}

// response is what web sends back: the command's output and exit status
// (-1 when it could not be started).
type response struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// web serves requests until SIGTERM. Each request runs with the web
// process's own credentials, namespaces and environment, exactly as the real
// web app starts l4d2ctl.
func web(args []string) error {
	fl := flag.NewFlagSet("web", flag.ContinueOnError)
	socket := fl.String("socket", "", "Unix socket to serve on")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *socket == "" {
		return errors.New("web: -socket is required")
	}
	if err := os.Remove(*socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("web: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		return fmt.Errorf("web: listen: %w", err)
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	fmt.Printf("left4me-web stand-in: uid=%d mntns=%s serving on %s\n", os.Getuid(), self, *socket)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("web: accept: %w", err)
		}
		go serve(conn)
	}
}

func serve(conn net.Conn) {
	defer conn.Close()
	var req request
	if err := json.NewDecoder(conn).Decode(&req); err != nil || len(req.Argv) == 0 {
		json.NewEncoder(conn).Encode(response{Stderr: fmt.Sprintf("bad request: %v", err), Code: -1})
		return
	}
	fmt.Printf("left4me-web stand-in: running %q\n", req.Argv)
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	resp := response{}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			resp.Code = ee.ExitCode()
		} else {
			resp.Code = -1
			fmt.Fprintf(&stderr, "standin: start %q: %v\n", req.Argv, err)
		}
	}
	resp.Stdout, resp.Stderr = stdout.String(), stderr.String()
	json.NewEncoder(conn).Encode(resp)
}

// call sends argv to the web stand-in and relays its output and exit status.
func call(args []string) (int, error) {
	fl := flag.NewFlagSet("call", flag.ContinueOnError)
	socket := fl.String("socket", "", "Unix socket of the web stand-in")
	if err := fl.Parse(args); err != nil {
		return 2, err
	}
	if *socket == "" || fl.NArg() == 0 {
		return 2, errors.New("call: usage: call -socket PATH -- COMMAND [ARGS]")
	}
	conn, err := net.Dial("unix", *socket)
	if err != nil {
		return 1, fmt.Errorf("call: connect to web stand-in: %w", err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(request{Argv: fl.Args()}); err != nil {
		return 1, fmt.Errorf("call: send: %w", err)
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return 1, fmt.Errorf("call: read reply: %w", err)
	}
	io.WriteString(os.Stdout, resp.Stdout)
	io.WriteString(os.Stderr, resp.Stderr)
	if resp.Code < 0 {
		return 1, nil
	}
	return resp.Code, nil
}

// view prints the treeview of DIR (internal/treeview): one line per entry,
// sorted by path, with type, permission bits, owner, size, symlink
// target, SHA-256 of the content and user.* xattrs, every name readdir
// lists lstat'ed on its own (a listed name that cannot be found is a line
// too). With -layers L1:L2:..., every name that exists in one of those
// layers is looked up as well, so a name found but not listed shows.
func view(args []string, w io.Writer) error {
	set := flag.NewFlagSet("view", flag.ContinueOnError)
	layers := set.String("layers", "", "colon-separated layer dirs whose names are probed")
	if err := set.Parse(args); err != nil {
		return err
	}
	if set.NArg() != 1 {
		return errors.New("view: usage: view [-layers DIR:DIR...] DIR")
	}
	var probes []string
	if *layers != "" {
		p, err := treeview.Probes(strings.Split(*layers, ":")...)
		if err != nil {
			return err
		}
		probes = p
	}
	lines, err := treeview.Record(set.Arg(0), treeview.Options{Probe: probes})
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}
