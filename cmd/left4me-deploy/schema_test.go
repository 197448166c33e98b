package main

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/left4me/left4me-deploy/internal/jsonschema"
)

// The documented schema of every --json line; tests that parse real output
// check each line against it (checkSchema).
var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

const schemaFile = "../../docs/json-schema/left4me-deploy.schema.json"

func checkSchema(t testing.TB, line string) {
	t.Helper()
	schemaOnce.Do(func() {
		b, err := os.ReadFile(schemaFile)
		if err != nil {
			schemaErr = err
			return
		}
		schema, schemaErr = jsonschema.Parse(b)
	})
	if schemaErr != nil {
		t.Fatalf("%s: %v", schemaFile, schemaErr)
	}
	if err := schema.ValidateJSON([]byte(line)); err != nil {
		t.Errorf("--json line does not match %s: %v\n%s", schemaFile, err, line)
	}
}

// The schema refuses what schema 1 says cannot be: counters on events
// that are not summaries, a not-run host counted as failed, an unknown
// status, a line without its version.
func TestSchemaRefuses(t *testing.T) {
	good := []string{
		`{"schema":1,"type":"start","host":"root@h","step":"units"}`,
		`{"schema":1,"type":"step","step":"units","status":"changed","reason":"write x"}`,
		`{"schema":1,"type":"summary","ok":3,"changed":1,"failed":0,"skipped":0}`,
		`{"schema":1,"type":"summary","host":"root@h","status":"not_run","reason":"not run: the canary failed","duration_ms":0}`,
		`{"schema":1,"type":"summary","host":"root@h","status":"failed","reason":"x","ok":1,"changed":0,"failed":1,"skipped":3,"duration_ms":812,"release":"abc","arch":"amd64","binaries":{"sent":0,"cached":5}}`,
		`{"schema":1,"type":"rollout","verb":"deploy","hosts":3,"ok":1,"failed":1,"not_run":1,"duration_ms":5,"retry_file":"left4me-deploy.retry"}`,
		`{"schema":1,"type":"progress","host":"root@h","step":"ship","reason":"sending l4d2ctl (3.1 MB)"}`,
	}
	bad := map[string]string{
		`{"schema":1,"type":"step","step":"units","status":"changed","ok":0,"changed":0,"failed":0,"skipped":0}`:    "matches none",
		`{"schema":1,"type":"summary","host":"root@h","status":"failed","failed":1,"duration_ms":0,"not_run":true}`: "matches none",
		`{"type":"start","step":"units"}`:                                         "matches none",
		`{"schema":2,"type":"start","step":"units"}`:                              "matches none",
		`{"schema":1,"type":"step","step":"units","status":"done"}`:               "matches none",
		`{"schema":1,"type":"summary","host":"h","status":"ok","duration_ms":-1}`: "matches none",
		`not json`: "not JSON",
	}
	for _, l := range good {
		checkSchema(t, l)
	}
	for l, want := range bad {
		if err := schema.ValidateJSON([]byte(l)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", l, err, want)
		}
	}
	if _, err := jsonschema.Parse([]byte(`{"pattern":"x"}`)); err == nil {
		t.Error("a schema with a keyword the checker does not know was accepted")
	}
}
