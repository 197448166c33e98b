package remote

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/google/renameio/v2"
)

// retryHeader starts every retry file; only a file that starts with it is
// replaced or removed.
const retryHeader = "left4me-deploy retry list"

// WriteRetry lists the hosts of results that failed or did not run in
// file, a hosts file (groups kept) for the next run's --hosts; it returns
// the file's name, or "" when every host succeeded. Then a retry file an
// earlier run left is removed, so a stale list is never taken for a fresh
// one. A file at that path that is not a retry list is left alone.
func WriteRetry(file, verb string, results []Result) (string, error) {
	if file == "" {
		return "", nil
	}
	var retry []Target
	for _, r := range results {
		if r.NotRun || r.Failed() {
			retry = append(retry, r.Target)
		}
	}
	if old, err := os.ReadFile(file); err == nil && !isRetryFile(old) {
		return "", fmt.Errorf("--retry-file %s: the file exists and is not a retry list; not overwritten (pass --retry-file with another path)", file)
	}
	if len(retry) == 0 {
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("remove the old retry list %s: %w", file, err)
		}
		return "", nil
	}
	var b bytes.Buffer
	again := "left4me-deploy"
	if verb != "deploy" {
		again += " " + verb
	}
	header := fmt.Sprintf("%s: the %d hosts of %d that failed or did not run in the last %s.\nRetry with: %s [flags] --hosts %s", retryHeader, len(retry), len(results), verb, again, file)
	if err := WriteHosts(&b, header, retry); err != nil {
		return "", err
	}
	if err := renameio.WriteFile(file, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write the retry list: %w", err)
	}
	return file, nil
}

func isRetryFile(b []byte) bool {
	line, _, _ := bufio.NewReader(bytes.NewReader(b)).ReadLine()
	return strings.HasPrefix(string(line), "# "+retryHeader)
}
