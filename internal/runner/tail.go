package runner

import "strconv"

// MaxStderr bounds the standard error a command's ExitError keeps: its
// last MaxStderr bytes. The rest still reaches Cmd.Stderr, if set; a
// command that talks without end (a compromised host behind ssh) costs
// this process no more than the bound.
const MaxStderr = 64 << 10

// tail keeps the last max bytes written to it and counts the rest.
type tail struct {
	max     int
	buf     []byte
	dropped int64
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.dropped += int64(len(t.buf) + len(p) - t.max)
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.dropped += int64(over)
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String is what was kept, after a mark of how much was dropped before it.
func (t *tail) String() string {
	if t.dropped == 0 {
		return string(t.buf)
	}
	return "(" + strconv.FormatInt(t.dropped, 10) + " bytes cut)..." + string(t.buf)
}
