// Package e2e tests left4me-deploy against a real booted Debian bookworm
// host: a debootstrapped root file system (cached between runs) booted with
// systemd-nspawn, systemd as its PID 1, reached over SSH on a loopback port
// exactly as an operator reaches a server. The tests deploy into it, drive
// the instance lifecycle as the web app would, and migrate a host prepared
// like the fuse-overlayfs era. See docs/testing.md, "End-to-end test on a
// booted systemd host". With LEFT4ME_E2E_VM set (tests/vm/run does), the
// hosts are QEMU guests of another Debian release's own kernel instead; see
// docs/kernels.md.
package e2e
