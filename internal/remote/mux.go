package remote

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The parts of OpenSSH's multiplexing protocol (PROTOCOL.mux) that ask a
// master to exit: what "ssh -O exit" sends, without starting a client
// process (its start costs more than the exchange itself).
const (
	muxHello     = 0x00000001
	muxTerminate = 0x10000005
	muxOK        = 0x80000001
	muxDenied    = 0x80000002
	muxFailure   = 0x80000003
	muxVersion   = 4
	// muxMaxPacket bounds what is read from the master.
	muxMaxPacket = 64 << 10
)

// muxExit asks the master listening on the control socket at path to
// exit, as "ssh -O exit" does: hello both ways, then a terminate request,
// answered with OK, or with the connection closed by the exiting master.
func muxExit(path string, timeout time.Duration) error {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := muxSend(c, muxHello, muxVersion); err != nil {
		return err
	}
	typ, body, err := muxRead(c)
	if err != nil {
		return fmt.Errorf("read the master's hello: %w", err)
	}
	if typ != muxHello || len(body) < 4 || binary.BigEndian.Uint32(body) < muxVersion {
		return fmt.Errorf("the master's hello is type %#x, %d bytes: not mux protocol version %d", typ, len(body), muxVersion)
	}
	const id = 1
	if err := muxSend(c, muxTerminate, id); err != nil {
		return err
	}
	typ, body, err = muxRead(c)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The master may exit before its OK reaches the client (OpenSSH
		// says so at its terminate handler); ssh -O exit takes a closed
		// connection after the request as done, and so does this.
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the master's answer: %w", err)
	}
	switch {
	case typ == muxOK && len(body) >= 4 && binary.BigEndian.Uint32(body) == id:
		return nil
	case typ == muxDenied, typ == muxFailure:
		return errors.New("the master refused to exit")
	}
	return fmt.Errorf("unexpected answer %#x from the master", typ)
}

// muxSend writes one packet: its length, its type and uint32 fields.
func muxSend(w io.Writer, typ uint32, fields ...uint32) error {
	b := make([]byte, 8+4*len(fields))
	binary.BigEndian.PutUint32(b, uint32(4+4*len(fields)))
	binary.BigEndian.PutUint32(b[4:], typ)
	for i, f := range fields {
		binary.BigEndian.PutUint32(b[8+4*i:], f)
	}
	_, err := w.Write(b)
	return err
}

// muxRead reads one packet and returns its type and the rest.
func muxRead(r io.Reader) (uint32, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 4 || n > muxMaxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(b), b[4:], nil
}
