# make dist: the release bundle in dist/ (see scripts/dist).
.PHONY: dist
dist:
	scripts/dist dist
