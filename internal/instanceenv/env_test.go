package instanceenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	inst = "/var/lib/left4me/installation"
	ovl  = "/var/lib/left4me/overlays"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"simple", "LOWERDIRS=/a:/b\n", map[string]string{"LOWERDIRS": "/a:/b"}, ""},
		{"comments and blanks", "# x\n\n  \nA=1\nB=\n", map[string]string{"A": "1", "B": ""}, ""},
		{"crlf", "A=1\r\n", map[string]string{"A": "1"}, ""},
		{"double quoted", `A="x y"` + "\n", map[string]string{"A": "x y"}, ""},
		{"single quoted", "A='x'\n", map[string]string{"A": "x"}, ""},
		{"no trailing newline", "A=1", map[string]string{"A": "1"}, ""},
		{"value with equals", "A=b=c\n", map[string]string{"A": "b=c"}, ""},
		{"no equals", "A\n", nil, "line 1: no '='"},
		{"bad key", "1A=x\n", nil, "line 1: bad key"},
		{"key with space", "A B=x\n", nil, "bad key"},
		{"empty key", "=x\n", nil, "bad key"},
		{"duplicate", "A=1\nA=2\n", nil, "line 2: A set twice"},
		{"nul", "A=\x00\n", nil, "NUL"},
		{"too large", strings.Repeat("#", MaxEnvSize+1), nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrEnv) {
					t.Fatalf("ParseEnv(%.40q) = %v, want error containing %q wrapping ErrEnv", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEnv(%.40q) = %v", tt.in, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseEnv(%.40q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateLayer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // "" = valid
	}{
		{"installation", inst, ""},
		{"below installation", inst + "/left4dead2", ""},
		{"overlay", ovl + "/addon-1", ""},
		{"below overlay", ovl + "/42/sub/dir", ""},
		{"unicode name", ovl + "/karte-\u00fc", ""},
		{"overlays itself", ovl, "overlays/ itself"},
		{"runtime", "/var/lib/left4me/runtime/x/upper", "under runtime/"},
		{"runtime root", "/var/lib/left4me/runtime", "under runtime/"},
		{"state root", "/var/lib/left4me", "outside"},
		{"other state dir", "/var/lib/left4me/secrets", "not in installation/"},
		{"etc", "/etc", "outside"},
		{"prefix trick", "/var/lib/left4me-evil/installation", "outside"},
		{"relative", "var/lib/left4me/installation", "not an absolute path"},
		{"empty", "", "not an absolute path"},
		{"dotdot", inst + "/../runtime/x", "'..'"},
		{"dotdot escape", ovl + "/a/../../../../etc", "'..'"},
		{"dot", inst + "/./x", "'.' component"},
		{"double slash", ovl + "//a", "empty component"},
		{"trailing slash", ovl + "/a/", "empty component"},
		{"comma", ovl + "/a,upperdir=/etc", "','"},
		{"colon", ovl + "/a:b", "':'"},
		{"backslash", ovl + `/a\054b`, `'\\'`},
		{"space", ovl + "/a b", "whitespace"},
		{"tab", ovl + "/a\tb", "whitespace"},
		{"newline", ovl + "/a\nb", "whitespace"},
		{"nbsp", ovl + "/a\u00a0b", "whitespace"},
		{"control", ovl + "/a\x01b", "control character"},
		{"del", ovl + "/a\x7fb", "control character"},
		{"c1 control", ovl + "/a\u0085b", "whitespace"},
		{"escape", ovl + "/a\x1bb", "control character"},
		{"invalid utf8", ovl + "/a\xffb", "UTF-8"},
		{"too long", ovl + "/" + strings.Repeat("a", 4096), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLayer(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateLayer(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateLayer(%.80q) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, ErrLayer) {
				t.Fatalf("ValidateLayer(%.80q) = %v, want it to wrap ErrLayer", tt.in, err)
			}
		})
	}
}

func TestLayers(t *testing.T) {
	many := func(n int) string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf("%s/l%d", ovl, i))
		}
		return strings.Join(p, ":")
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    int
		wantErr string
	}{
		{"one", map[string]string{"LOWERDIRS": inst}, 1, ""},
		{"two", map[string]string{"LOWERDIRS": ovl + "/a:" + inst}, 2, ""},
		{"500", map[string]string{"LOWERDIRS": many(500)}, 500, ""},
		{"501", map[string]string{"LOWERDIRS": many(501)}, 0, "at most 500"},
		{"missing", map[string]string{"OTHER": "x"}, 0, "no LOWERDIRS= line"},
		{"empty", map[string]string{"LOWERDIRS": ""}, 0, "is empty"},
		{"blank", map[string]string{"LOWERDIRS": "  "}, 0, "is empty"},
		{"empty entry", map[string]string{"LOWERDIRS": inst + "::" + ovl + "/a"}, 0, "entry 2 is empty"},
		{"trailing colon", map[string]string{"LOWERDIRS": inst + ":"}, 0, "entry 2 is empty"},
		{"duplicate", map[string]string{"LOWERDIRS": inst + ":" + inst}, 0, "listed twice"},
		{"bad entry", map[string]string{"LOWERDIRS": ovl + "/a:/etc"}, 0, `"/etc"`},
		{"runtime entry", map[string]string{"LOWERDIRS": "/var/lib/left4me/runtime/other/upper"}, 0, "under runtime/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Layers(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Layers(%.60v) = %v, want error containing %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("Layers(%.60v) = %d layers, %v; want %d", tt.env, len(got), err, tt.want)
			}
		})
	}
}

// FuzzLayers checks that whatever instance.env holds, every layer accepted
// is a clean path in an allowed place with no option-injecting byte.
func FuzzLayers(f *testing.F) {
	f.Add("LOWERDIRS=" + inst + "\n")
	f.Add("LOWERDIRS=" + ovl + "/a:" + inst + "\nX=1\n")
	f.Add("LOWERDIRS='" + ovl + "/a,upperdir=/etc'\n")
	f.Add("# c\nLOWERDIRS=\"" + ovl + "/../runtime\"\n")
	f.Fuzz(func(t *testing.T, data string) {
		env, err := ParseEnv(strings.NewReader(data))
		if err != nil {
			return
		}
		layers, err := Layers(env)
		if err != nil {
			return
		}
		if len(layers) == 0 || len(layers) > MaxLayers {
			t.Fatalf("accepted %d layers", len(layers))
		}
		for _, l := range layers {
			if strings.ContainsAny(l, ",:\\\x00\n\t ") || strings.Contains(l, "/..") || strings.Contains(l, "//") {
				t.Fatalf("accepted unsafe layer %q", l)
			}
			if !strings.HasPrefix(l, inst) && !strings.HasPrefix(l, ovl+"/") {
				t.Fatalf("accepted layer %q outside installation/ and overlays/", l)
			}
			if strings.HasPrefix(l, inst) && l != inst && !strings.HasPrefix(l, inst+"/") {
				t.Fatalf("accepted layer %q that only shares a prefix with installation", l)
			}
		}
	})
}
