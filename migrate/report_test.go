package migrate

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestWriteTextServices: the text report says what happened to the units:
// planned, done, left stopped by a failed conversion, or partly failed.
func TestWriteTextServices(t *testing.T) {
	const (
		web = "left4me-web.service"
		a   = "left4me-server@a.service"
		b   = "left4me-server@b.service"
	)
	plan := Services{Stop: []string{a, b, web}, Start: []string{web, a, b}, Mount: []string{"a", "b"}}
	for _, tc := range []struct {
		name string
		rep  Report
		want []string
	}{
		{"dry run", Report{DryRun: true, Services: plan}, []string{
			"services: would stop " + a + " " + b + " " + web,
			"services: would mount the overlays of a b before their servers start",
			"services: would start again " + web + " " + a + " " + b,
		}},
		{"done", Report{Services: made(plan, nil)}, []string{
			"services: stopped " + a + " " + b + " " + web,
			"services: mounted the overlays of a b before their servers start",
			"services: started again " + web + " " + a + " " + b,
		}},
		{"conversion failed", Report{Error: "instance a: boom", Services: made(plan, nil)}, []string{
			"services: stopped " + a + " " + b + " " + web,
			"services: would mount the overlays of a b before their servers start",
			"services: left stopped, to start after a rerun: " + web + " " + a + " " + b,
		}},
		{"one server failed", Report{Services: made(plan, []UnitFailure{{b, "start: exit status 1"}})}, []string{
			"services: stopped " + a + " " + b + " " + web,
			"services: mounted the overlays of a b before their servers start",
			"services: started again " + web + " " + a,
			"services: not started again: " + b + ": start: exit status 1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.rep.WriteText(&buf, false)
			var got []string
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.HasPrefix(l, "services: ") {
					got = append(got, l)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("WriteText services lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func made(s Services, failed []UnitFailure) Services {
	s.Made, s.Failed = true, failed
	return s
}
