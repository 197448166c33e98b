// Package e2e tests left4me-deploy against a real booted Debian bookworm
// host: a debootstrapped root file system (cached between runs) booted with
// systemd-nspawn, systemd as its PID 1, reached over SSH on a loopback port
// exactly as an operator reaches a server. The tests deploy into it, drive
// the instance lifecycle as the web app would, and migrate a host prepared
// like the fuse-overlayfs era. See docs/testing.md, "End-to-end test on a
// booted systemd host".
package e2e
