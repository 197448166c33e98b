package sshdtest

import (
	"crypto/sha256"
	_ "embed" // the fake plan
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// fakePlan stands in for "left4me-deploy host ARGS" (an apply) where a
// test needs a plan it controls: it keeps one file, ROOT/etc/fake-plan, equal
// to the checksum of the shipped l4d2ctl, emitting the events the real plan
// would. With ROOT/slow present it reports one step and then keeps writing
// log events for 30 s, so a test can cut the connection mid-run; it dies of
// SIGPIPE once the connection is gone.
//
//go:embed fakeplan.sh
var fakePlan string

// FakePlanBundle writes a release bundle for this machine's architecture
// whose left4me-deploy is the fake plan above, plus an l4d2ctl of random
// bytes, and returns its directory.
func FakePlanBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	arch := "linux-" + runtime.GOARCH
	if err := os.Mkdir(filepath.Join(dir, arch), 0o755); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 64<<10)
	for i := range noise {
		noise[i] = byte(i*7 + len(dir))
	}
	files := map[string][]byte{"left4me-deploy": []byte(fakePlan), "l4d2ctl": append([]byte(dir), noise...)}
	var sums string
	for _, name := range []string{"l4d2ctl", "left4me-deploy"} {
		if err := os.WriteFile(filepath.Join(dir, arch, name), files[name], 0o755); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(files[name])
		sums += fmt.Sprintf("%s  %s/%s\n", hex.EncodeToString(h[:]), arch, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
