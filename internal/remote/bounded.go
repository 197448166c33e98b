package remote

import (
	"context"
	"io"

	"github.com/left4me/left4me-deploy/internal/lines"
)

// cutOff is a host's output stream, bounded by its lines.Writer: once the
// host has sent more than the bound, the command is cancelled (its ssh
// client ends, and with it the session on the host), since a host that
// keeps talking would otherwise keep the run waiting for ever.
type cutOff struct {
	w      *lines.Writer
	cancel context.CancelFunc
}

func (c cutOff) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.cancel()
	}
	return n, err
}

var _ io.Writer = cutOff{}
