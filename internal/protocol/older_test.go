package protocol

import (
	"strings"
	"testing"
)

// An older installer's summary, which has no release field, gets the
// release the rollback leaves; everything else passes through unchanged.
func TestSummaryRelease(t *testing.T) {
	const target, current = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	for _, tc := range []struct{ in, want string }{
		{`{"type":"step","step":"units","status":"changed"}`, `{"type":"step","step":"units","status":"changed"}`},
		{`{"type":"summary","ok":1,"changed":2,"failed":0,"skipped":0}`, `{"schema":1,"type":"summary","release":"aaaaaaaaaaaaaaaa","ok":1,"changed":2,"failed":0,"skipped":0}`},
		{`{"type":"summary","ok":1,"changed":0,"failed":1,"skipped":0}`, `{"schema":1,"type":"summary","release":"bbbbbbbbbbbbbbbb","ok":1,"changed":0,"failed":1,"skipped":0}`},
		{`{"type":"summary","release":"cccccccccccccccc","ok":1,"changed":0,"failed":0,"skipped":0}`, `{"type":"summary","release":"cccccccccccccccc","ok":1,"changed":0,"failed":0,"skipped":0}`},
		{`not json`, `not json`},
	} {
		var b strings.Builder
		w := SummaryRelease(&b, target, current)
		w.Write([]byte(tc.in + "\n"))
		w.Flush()
		if got := strings.TrimSuffix(b.String(), "\n"); got != tc.want {
			t.Errorf("SummaryRelease(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
