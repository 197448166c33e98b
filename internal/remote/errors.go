package remote

import "errors"

// Errors a deploy to one host can end with. Each comes wrapped with the host
// and what ssh or sudo said; test with errors.Is.
var (
	// ErrUnreachable: no TCP connection (refused, timed out, unknown name).
	ErrUnreachable = errors.New("host unreachable")
	// ErrAuth: the server refused every key or password offered.
	ErrAuth = errors.New("authentication failed")
	// ErrHostKeyChanged: known_hosts holds a different key for the host.
	ErrHostKeyChanged = errors.New("host key changed")
	// ErrHostKeyUnknown: the host key could not be verified (not in
	// known_hosts, and ssh may not ask).
	ErrHostKeyUnknown = errors.New("host key not verified")
	// ErrUnsupported: the host is not Linux on amd64 or arm64.
	ErrUnsupported = errors.New("unsupported host OS or architecture")
	// ErrSudoRefused: the login user may not become root with sudo.
	ErrSudoRefused = errors.New("sudo refused")
	// ErrHostTimeout: a host did not finish within Deployer.HostTimeout.
	ErrHostTimeout = errors.New("host ran out of time")
	// ErrSudoNoTerminal: sudo wants a password and there is no terminal to
	// ask it on.
	ErrSudoNoTerminal = errors.New("sudo needs a password and there is no terminal")
	// ErrConnectionLost: the SSH connection died while the host was working.
	ErrConnectionLost = errors.New("connection lost")
	// ErrHostState: the deploy's own state directory on the host is not
	// what it must be (owner, mode, type).
	ErrHostState = errors.New("unsafe state directory on host")
	// ErrProtocol: the host sent a word outside the protocol
	// (internal/protocol): a compromised or broken host.
	ErrProtocol = errors.New("host broke the protocol")
)
