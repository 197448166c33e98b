// Package lines turns a byte stream into one callback per line: the
// migration's progress into step log events, and a host's output into the
// remote deployer's event parser.
package lines

import (
	"bytes"
	"strings"
	"sync"
)

// Writer calls Emit for every complete line written to it, without the
// line's "\n" or "\r\n". It is safe for concurrent use; Emit is called with
// the Writer's lock held, one line at a time.
type Writer struct {
	Emit func(line string)

	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer. It never fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.Emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

// Flush emits a last line that has no newline, if there is one.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.Emit(string(w.buf))
		w.buf = nil
	}
}
