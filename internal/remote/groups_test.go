package remote

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

const groupsFile = `# game hosts
root@canary.example canary   # the canary, in no section
[eu]
root@eu1.example
root@eu2.example:2202 big
[us]
root@us1.example big,canary
`

func specs(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Spec)
	}
	return strings.Join(out, " ")
}

func TestReadHostsGroups(t *testing.T) {
	got, err := ReadHosts(strings.NewReader(groupsFile), "hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"root@canary.example":   {"canary"},
		"root@eu1.example":      {"eu"},
		"root@eu2.example:2202": {"eu", "big"},
		"root@us1.example":      {"us", "big", "canary"},
	}
	if len(got) != len(want) {
		t.Fatalf("ReadHosts = %+v", got)
	}
	for _, tg := range got {
		if !reflect.DeepEqual(tg.Groups, want[tg.Spec]) {
			t.Errorf("%s: groups %q, want %q", tg.Spec, tg.Groups, want[tg.Spec])
		}
	}
}

func TestLimit(t *testing.T) {
	all, err := ReadHosts(strings.NewReader(groupsFile), "hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ limit, want, err string }{
		{limit: "eu", want: "root@eu1.example root@eu2.example:2202"},
		{limit: "canary", want: "root@canary.example root@us1.example"},
		{limit: "us,eu", want: "root@eu1.example root@eu2.example:2202 root@us1.example"}, // file order kept
		{limit: "eu*.example", want: "root@eu1.example root@eu2.example:2202"},            // glob on host names
		{limit: "root@us1.*", want: "root@us1.example"},                                   // glob on specs
		{limit: "b?g", want: "root@eu2.example:2202 root@us1.example"},                    // glob on groups
		{limit: "eu,asia", err: `"asia" matches no host and no group`},
		{limit: "[", err: "bad pattern"},
		{limit: " , ", err: "want a group or a host pattern"},
	} {
		got, err := Limit(all, c.limit)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Limit(%q) = %q, %v; want error %q", c.limit, specs(got), err, c.err)
			}
			continue
		}
		if err != nil || specs(got) != c.want {
			t.Errorf("Limit(%q) = %q, %v; want %q", c.limit, specs(got), err, c.want)
		}
	}
}

// A written hosts file reads back as the same hosts and groups.
func TestWriteHostsRoundTrip(t *testing.T) {
	all, err := ReadHosts(strings.NewReader(groupsFile), "hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHosts(&b, "retry list\nsecond line", all); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "# retry list\n# second line\n") {
		t.Fatalf("header:\n%s", b.String())
	}
	back, err := ReadHosts(&b, "retry")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, all) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", back, all)
	}
}
