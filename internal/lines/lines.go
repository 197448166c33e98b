// Package lines turns a byte stream into one callback per line: the
// migration's progress into step log events, and a host's output into the
// remote deployer's event parser.
//
// A stream may come from an attacker (a compromised host owns every byte
// it sends back), so a Writer is bounded: it keeps at most MaxLine bytes
// of a line (a longer one is emitted cut, with a mark saying how much was
// dropped), accepts at most MaxTotal bytes in all, and looks at every byte
// once, so its memory is O(MaxLine) and its time O(bytes written) whatever
// the stream holds.
package lines

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// DefaultMaxLine is the line bound of a Writer whose MaxLine is 0.
const DefaultMaxLine = 64 << 10

// CutMark starts what a Writer appends to a line it cut: the line's first
// MaxLine bytes, then "...(line cut: N more bytes)".
const CutMark = "...(line cut: "

// ErrTooMuch is returned by Write once the stream passed MaxTotal bytes.
var ErrTooMuch = errors.New("output past its limit")

// Writer calls Emit for every complete line written to it, without the
// line's "\n" or "\r\n". It is safe for concurrent use; Emit is called with
// the Writer's lock held, one line at a time.
type Writer struct {
	Emit func(line string)
	// MaxLine bounds the bytes kept of one line; 0 means DefaultMaxLine.
	MaxLine int
	// MaxTotal bounds the bytes accepted in all; 0 means no bound. The
	// write that passes it emits what it accepted as lines, takes the rest
	// of no further line and fails with ErrTooMuch, and so does every later
	// write.
	MaxTotal int64

	mu      sync.Mutex
	buf     []byte // the kept part of the line being read
	dropped int64  // bytes of that line past MaxLine
	total   int64
	over    bool
}

func (w *Writer) maxLine() int {
	if w.MaxLine > 0 {
		return w.MaxLine
	}
	return DefaultMaxLine
}

// Write implements io.Writer. It fails only with ErrTooMuch.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.over {
		return 0, w.tooMuch()
	}
	n := len(p)
	if w.MaxTotal > 0 && w.total+int64(n) > w.MaxTotal {
		n = int(w.MaxTotal - w.total)
		w.over = true
	}
	w.total += int64(n)
	rest := p[:n]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			w.keep(rest)
			break
		}
		w.keep(rest[:i])
		w.emit()
		rest = rest[i+1:]
	}
	if w.over {
		return n, w.tooMuch()
	}
	return n, nil
}

func (w *Writer) tooMuch() error {
	return fmt.Errorf("%w (%d bytes)", ErrTooMuch, w.MaxTotal)
}

// keep adds part of a line to buf, up to MaxLine, and counts the rest.
func (w *Writer) keep(b []byte) {
	room := w.maxLine() - len(w.buf)
	if room >= len(b) {
		w.buf = append(w.buf, b...)
		return
	}
	if room > 0 {
		w.buf = append(w.buf, b[:room]...)
		b = b[room:]
	}
	w.dropped += int64(len(b))
}

// emit emits the line in buf and starts the next.
func (w *Writer) emit() {
	line := w.buf
	if w.dropped == 0 {
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	s := string(line)
	if w.dropped > 0 {
		s += CutMark + strconv.FormatInt(w.dropped, 10) + " more bytes)"
	}
	w.Emit(s)
	w.buf, w.dropped = w.buf[:0], 0
	if cap(w.buf) > 4<<10 {
		w.buf = nil // one long line does not keep its buffer for the rest
	}
}

// Flush emits a last line that has no newline, if there is one.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 || w.dropped > 0 {
		w.emit()
	}
}

// Over reports whether the stream passed MaxTotal.
func (w *Writer) Over() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over
}
