# make dist: the release bundle in dist/ (see scripts/dist).
.PHONY: dist
dist:
	scripts/dist dist

# make kernels: the VM tier, Debian 11, 12 and 13 (Linux 5.10, 6.1, 6.12)
# booted under QEMU with their own kernels; see docs/kernels.md.
.PHONY: kernels
kernels:
	tests/setup-host
	tests/vm/run bullseye bookworm trixie
