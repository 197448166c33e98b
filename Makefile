# Everyday targets; each is a thin wrapper around a script, so CI and a
# shell run the same thing. See docs/testing.md.
#
#   make build   the binaries, into bin/
#   make test    the whole suite as CI runs it (tests/run; as root)
#   make lint    gofmt, go vet (also for macOS), staticcheck, shellcheck
#   make fuzz    every fuzz target, FUZZTIME each (default 10s)
#   make e2e     only the end-to-end tier (boots Debian hosts; minutes)
#   make faults  the fault tier: every point a deploy is cut off at (tests/e2e TestFaults)
#   make try     deploy for real into a throwaway Debian host
#   make dist    the release bundle in dist/ (see scripts/dist)

GO ?= go
FUZZTIME ?= 10s

.PHONY: build test lint fuzz e2e faults try dist

build:
	$(GO) build -o bin/ ./cmd/...

test:
	tests/run

lint:
	scripts/lint

fuzz:
	scripts/fuzz $(FUZZTIME)

e2e:
	$(GO) test -count=1 -timeout 60m ./tests/e2e/

# CI (tests/run) runs TestFaults with its bounded sample of four points.
faults:
	LEFT4ME_FAULTS=all flock /tmp/left4me-tests.lock $(GO) test -count=1 -timeout 40m -run '^TestFaults$$' -v ./tests/e2e/

try:
	tests/setup-host && scripts/try-deploy

dist:
	scripts/dist dist

# make kernels: the VM tier, Debian 11, 12 and 13 (Linux 5.10, 6.1, 6.12)
# booted under QEMU with their own kernels; see docs/kernels.md. Then the
# randomised migration truth test at length (300 sequences) on each
# release's own fuse-overlayfs (tests/fuse/random; docs/migration.md).
.PHONY: kernels
kernels:
	tests/setup-host
	tests/vm/run bullseye bookworm trixie
	tests/fuse/random bullseye bookworm trixie
