package remote

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	cases := []struct {
		in, user, host, port, err string
	}{
		{in: "root@h1", user: "root", host: "h1"},
		{in: "h1", host: "h1"},
		{in: "root@127.0.0.1:2222", user: "root", host: "127.0.0.1", port: "2222"},
		{in: "root@[::1]:22", user: "root", host: "::1", port: "22"},
		{in: "root@[fe80::1]", user: "root", host: "fe80::1"},
		{in: "fe80::1", host: "fe80::1"}, // a bare IPv6 address has no port
		{in: "root@h:0", err: "port"},
		{in: "root@h:65536", err: "port"},
		{in: "root@h:22x", err: "port"},
		{in: "root@h:022", err: "port"},
		{in: "root@:22", err: "no host"},
		{in: "root@[::1", err: "without ']'"},
		{in: "-oProxyCommand=x", err: "starts with '-'"},
	}
	for _, c := range cases {
		got, err := ParseHost(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseHost(%q) = %+v, %v; want error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got.User != c.user || got.Host != c.host || got.Port != c.port || got.Spec != c.in {
			t.Errorf("ParseHost(%q) = %+v, %v; want user %q host %q port %q", c.in, got, err, c.user, c.host, c.port)
		}
	}
}

func TestReadHosts(t *testing.T) {
	file := `# game hosts
root@a.example:2201   # canary

deploy@b.example
  root@[::1]:2203
`
	got, err := ReadHosts(strings.NewReader(file), "hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	for _, tg := range got {
		specs = append(specs, tg.Spec)
	}
	if strings.Join(specs, " ") != "root@a.example:2201 deploy@b.example root@[::1]:2203" {
		t.Fatalf("ReadHosts = %q", specs)
	}
	if got[0].Port != "2201" || got[2].Host != "::1" {
		t.Fatalf("ReadHosts parsed %+v", got)
	}
	for _, c := range []struct{ file, err string }{
		{"a\nb c d\n", "hosts.txt:2:"},
		{"a g/x\n", "hosts.txt:1: group"},
		{"[bad name]\na\n", "hosts.txt:1: group"},
		{"a\n\na # again\n", "hosts.txt:3: a is listed already on line 1"},
		{"root@h:99999\n", "hosts.txt:1:"},
		{"-F/etc/passwd\n", "hosts.txt:1:"},
	} {
		if _, err := ReadHosts(strings.NewReader(c.file), "hosts.txt"); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ReadHosts(%q) = %v, want error %q", c.file, err, c.err)
		}
	}
}

func TestPortArgs(t *testing.T) {
	tg, _ := ParseHost("root@h:2201")
	if a := tg.portArgs(); len(a) != 2 || a[1] != "2201" {
		t.Fatalf("portArgs = %q", a)
	}
}
