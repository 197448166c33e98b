package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMark(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		line string
		want Mark
		bad  string // what the refusal names; "" means accepted
	}{
		{"L4M host Linux x86_64 amd64", Mark{Kind: MarkHost, OS: "Linux", Machine: "x86_64", Arch: "amd64"}, ""},
		{"L4M host Linux riscv64 unknown", Mark{Kind: MarkHost, OS: "Linux", Machine: "riscv64", Arch: "unknown"}, ""},
		{"L4M host Linux x86_64 amd64/../../x", Mark{}, "architecture"},
		{"L4M host Linux x86_64 amd64 extra", Mark{}, "host mark"},
		{"L4M host Linux  x86_64 amd64", Mark{}, "host mark"},
		{"L4M host Li$nux x86_64 amd64", Mark{}, "system name"},
		{"L4M need " + sum + " " + sum, Mark{Kind: MarkNeed, Need: []string{sum}}, ""},
		{"L4M need ../../etc/passwd", Mark{}, "checksum"},
		{"L4M need " + strings.ToUpper(sum), Mark{}, "checksum"},
		{"L4M need", Mark{}, "need mark"},
		{"L4M need " + strings.Repeat(sum+" ", 33), Mark{}, "need mark"},
		{"L4M sudo alice", Mark{Kind: MarkSudo, User: "alice"}, ""},
		{"L4M sudo al\x1bice", Mark{}, "user name"},
		{"L4M nosudo a b", Mark{}, "nosudo mark"},
		{"L4M unsafe /x is a symbolic link", Mark{Kind: MarkUnsafe, Text: "/x is a symbolic link"}, ""},
		{"L4M apply", Mark{Kind: MarkApply}, ""},
		{"L4M apply now", Mark{}, "apply mark"},
		{"L4M offer", Mark{Kind: MarkOffer}, ""},
		{"L4M ", Mark{}, "mark"},
		{"L4M exec rm", Mark{}, "mark"},
	} {
		got, err := ParseMark(tc.line)
		var re *RefusedError
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("ParseMark(%q) = %v, want %+v", tc.line, err, tc.want)
		case tc.bad == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("ParseMark(%q) = %+v, want %+v", tc.line, got, tc.want)
		case tc.bad != "" && (!errors.As(err, &re) || re.What != tc.bad):
			t.Errorf("ParseMark(%q) = %+v, %v; want a refused %s", tc.line, got, err, tc.bad)
		}
	}
}

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		line string
		bad  string // "" accepted, "-" not an event, else what is refused
	}{
		{`{"type":"step","step":"units","status":"changed","reason":"install x"}`, ""},
		{`{"type":"start","step":"verify"}`, ""},
		{`{"type":"log","step":"migration","reason":"a  b"}`, ""},
		{`{"type":"diff","step":"units","path":"/etc/x","diff":"+a"}`, ""},
		{`{"type":"summary","ok":11,"release":"0123456789abcdef"}`, ""},
		{`{"type":"status","release":null,"drift":[{"step":"units","reason":"x"}]}`, ""},
		{`not json`, "-"},
		{`{"type":""}`, "-"},
		{`{"reason":"no type"}`, "-"},
		{`{"type":"error","reason":"x"}`, "event type"},
		{`{"type":"step","step":"../x","status":"ok"}`, "step name"},
		{`{"type":"start"}`, "step name"},
		{`{"type":"step","step":"units","status":"done"}`, "step status"},
		{`{"type":"log","status":"ok"}`, "status of a log event"},
		{`{"type":"summary","ok":-1}`, "count"},
		{`{"type":"summary","failed":10001}`, "count"},
		{`{"type":"step","step":"units","status":"ok","ok":1}`, "count"},
		{`{"type":"summary","release":"../x"}`, "release id"},
		{`{"type":"log","release":"0123456789abcdef"}`, "release of a log event"},
		{`{"type":"log","host":"other"}`, "host field"},
		{`{"type":"status","release":{"id":"x y"}}`, "release id"},
		{`{"type":"status","failed":[{"step":"$(x)"}]}`, "step name"},
		{`{"type":"status","release":"text"}`, "status report"},
		{`{"type":"step","step":7}`, "event"},
	} {
		_, _, err := ParseEvent(tc.line)
		var re *RefusedError
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("ParseEvent(%s) = %v, want accepted", tc.line, err)
		case tc.bad == "-" && !errors.Is(err, ErrNotEvent):
			t.Errorf("ParseEvent(%s) = %v, want ErrNotEvent", tc.line, err)
		case tc.bad != "" && tc.bad != "-" && (!errors.As(err, &re) || re.What != tc.bad):
			t.Errorf("ParseEvent(%s) = %v, want a refused %s", tc.line, err, tc.bad)
		}
	}
}

// A refusal names the word escaped: it is printed on the operator's
// terminal.
func TestRefusedErrorEscapes(t *testing.T) {
	_, err := ParseMark("L4M host Linux x86_64 amd64/\x1b[2J  x")
	if err == nil || strings.ContainsAny(err.Error(), "\x1b") {
		t.Fatalf("ParseMark error = %q, want the word escaped", err)
	}
	_, err = ParseMark("L4M host Linux x86_64 amd64/\x1b[2J")
	if want := `refused architecture "amd64/\x1b[2J" (want amd64 or arm64)`; err == nil || err.Error() != want {
		t.Errorf("ParseMark error = %q, want %q", err, want)
	}
}
