package overlay

import (
	"errors"
	"strings"
	"testing"
)

func TestMethodFor(t *testing.T) {
	tests := []struct {
		release string
		want    Method
		wantErr string
	}{
		{"6.18.44-fc-v669", MethodFD, ""},
		{"6.13.0", MethodFD, ""},
		{"7.0.1", MethodFD, ""},
		{"6.12.48+deb13-amd64", MethodLowerdirPlus, ""},
		{"6.8.0-45-generic", MethodLowerdirPlus, ""},
		{"6.8-rc1", MethodLowerdirPlus, ""},
		{"6.7.12", MethodLegacy, ""},
		{"6.1.0-26-amd64", MethodLegacy, ""},
		{"5.10.0-32-amd64", MethodLegacy, ""},
		{"5.8.0", MethodLegacy, ""},
		{"5.7.19", 0, "older than 5.8"},
		{"4.19.0-27-amd64", 0, "older than 5.8"},
		{"3.10.0-1160.el7.x86_64", 0, "older than 5.8"},
		{"", 0, "cannot read"},
		{"six.one", 0, "cannot read"},
		{"6", 0, "cannot read"},
		{"6.x", 0, "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.release, func(t *testing.T) {
			got, err := MethodFor(tt.release)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MethodFor(%q) = %v, %v; want error containing %q", tt.release, got, err, tt.wantErr)
				}
				if KernelSupported(tt.release) == nil {
					t.Fatalf("KernelSupported(%q) = nil, want an error", tt.release)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MethodFor(%q) = %v, %v; want %v", tt.release, got, err, tt.want)
			}
			if err := KernelSupported(tt.release); err != nil {
				t.Fatalf("KernelSupported(%q) = %v", tt.release, err)
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	for _, m := range []Method{MethodAuto, MethodFD, MethodLowerdirPlus, MethodLegacy} {
		got, err := ParseMethod(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMethod(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	if _, err := ParseMethod("fsopen"); err == nil {
		t.Fatalf("ParseMethod(fsopen) = nil error")
	}
}

// TestMethodAvailable: a forced method is refused on a kernel that lacks it,
// naming the kernel, the method and the kernel it needs.
func TestMethodAvailable(t *testing.T) {
	tests := []struct {
		release string
		m       Method
		want    string // "" = available
	}{
		{"5.10.0-30-amd64", MethodLegacy, ""},
		{"5.10.0-30-amd64", MethodAuto, ""},
		{"5.10.0-30-amd64", MethodLowerdirPlus, `mount method lowerdir+ needs Linux 6.8 or newer (fsconfig "lowerdir+"); kernel 5.10.0-30-amd64 lacks it (the automatic choice there is legacy)`},
		{"5.10.0-30-amd64", MethodFD, "mount method fd needs Linux 6.13 or newer (overlay layers as fds, FSCONFIG_SET_FD); kernel 5.10.0-30-amd64 lacks it (the automatic choice there is legacy)"},
		{"6.1.0-27-amd64", MethodLegacy, ""},
		{"6.1.0-27-amd64", MethodLowerdirPlus, `mount method lowerdir+ needs Linux 6.8 or newer (fsconfig "lowerdir+"); kernel 6.1.0-27-amd64 lacks it (the automatic choice there is legacy)`},
		{"6.1.0-27-amd64", MethodFD, "mount method fd needs Linux 6.13 or newer (overlay layers as fds, FSCONFIG_SET_FD); kernel 6.1.0-27-amd64 lacks it (the automatic choice there is legacy)"},
		{"6.7.12", MethodLowerdirPlus, "kernel 6.7.12 lacks it"},
		{"6.8.0-45-generic", MethodLowerdirPlus, ""},
		{"6.12.48+deb13-amd64", MethodLegacy, ""},
		{"6.12.48+deb13-amd64", MethodLowerdirPlus, ""},
		{"6.12.48+deb13-amd64", MethodFD, "mount method fd needs Linux 6.13 or newer (overlay layers as fds, FSCONFIG_SET_FD); kernel 6.12.48+deb13-amd64 lacks it (the automatic choice there is lowerdir+)"},
		{"6.13", MethodFD, ""},
		{"6.13.0", MethodLowerdirPlus, ""},
		{"6.18.44-fc-v669", MethodFD, ""},
		{"6.18.44-fc-v669", MethodLowerdirPlus, ""},
		{"6.18.44-fc-v669", MethodLegacy, ""},
		{"5.4.0-old", MethodLegacy, "older than 5.8"},
		{"5.4.0-old", MethodFD, "older than 5.8"},
		{"six.one", MethodFD, "cannot read"},
		{"6.18", Method(42), "unknown mount method"},
	}
	for _, tt := range tests {
		t.Run(tt.release+"/"+tt.m.String(), func(t *testing.T) {
			err := MethodAvailable(tt.release, tt.m)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("MethodAvailable(%q, %v) = %v, want nil", tt.release, tt.m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("MethodAvailable(%q, %v) = %v, want an error containing %q", tt.release, tt.m, err, tt.want)
			}
			tooOld := strings.Contains(tt.want, "needs Linux") || strings.Contains(tt.want, "lacks it")
			if errors.Is(err, ErrMethodUnavailable) != tooOld {
				t.Errorf("errors.Is(MethodAvailable(%q, %v), ErrMethodUnavailable) = %v, want %v", tt.release, tt.m, !tooOld, tooOld)
			}
		})
	}
}
