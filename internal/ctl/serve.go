//go:build linux

package ctl

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/instance"
	"github.com/left4me/left4me-deploy/internal/instanceenv"
)

// ServerProgram is what left4me-server@NAME.service runs, from the
// instance's merged directory (its working directory).
const ServerProgram = "./srcds_run"

// ServerArgsKey names the instance.env line whose whitespace-separated words
// follow "-game left4dead2" on the game server's command line.
const ServerArgsKey = "SRCDS_ARGS"

// ServerCommand returns the argv and environment with which l4d2ctl run
// NAME execs the game server: environ plus every KEY=value of
// runtime/NAME/instance.env (which wins), and ./srcds_run -game left4dead2
// followed by the words of SRCDS_ARGS.
//
// This replaces an EnvironmentFile= in the server unit: systemd reads that
// file as root, in PID 1, following symlinks, so the left4me user could
// point instance.env at any root-only KEY=value file and read it back from
// the game's environment. Read here, by the unit's own user, it yields only
// what that user can read anyway. It is still opened without following a
// final symlink, and must be a regular file.
func ServerCommand(root hostpath.Root, name string, environ []string) (argv, env []string, err error) {
	if err := instance.ValidateName(name); err != nil {
		return nil, nil, err
	}
	path := root.Join(hostpath.InstanceEnv(name))
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("run %s: %s is not a regular file", name, path)
	}
	vars, err := instanceenv.ParseEnv(f)
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %s: %w", name, path, err)
	}
	env = make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := vars[k]; !set {
			env = append(env, kv)
		}
	}
	for _, k := range sortedKeys(vars) {
		env = append(env, k+"="+vars[k])
	}
	argv = append([]string{ServerProgram, "-game", "left4dead2"}, strings.Fields(vars[ServerArgsKey])...)
	return argv, env, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
