package remote

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/term"
)

// TerminalPrompt asks on the controlling terminal, without echo, like
// sudo itself (Deployer.Prompt); with no terminal it reports
// ErrSudoNoTerminal. Ctrl-C (ctx) ends the question and gives the
// terminal its echo back.
func TerminalPrompt() func(context.Context, string) ([]byte, error) {
	return func(ctx context.Context, prompt string) ([]byte, error) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSudoNoTerminal, err)
		}
		fd := int(tty.Fd())
		if !term.IsTerminal(fd) {
			tty.Close()
			return nil, ErrSudoNoTerminal
		}
		state, err := term.GetState(fd)
		if err != nil {
			tty.Close()
			return nil, fmt.Errorf("read terminal state: %w", err)
		}
		fmt.Fprint(tty, prompt)
		type answer struct {
			pw  []byte
			err error
		}
		ch := make(chan answer, 1)
		go func() {
			pw, err := term.ReadPassword(fd)
			ch <- answer{pw, err}
		}()
		select {
		case a := <-ch:
			fmt.Fprintln(tty)
			tty.Close()
			return a.pw, a.err
		case <-ctx.Done():
			// The reader stays blocked until the process exits; the
			// terminal gets its echo back now.
			term.Restore(fd, state)
			fmt.Fprintln(tty)
			return nil, ctx.Err()
		}
	}
}
