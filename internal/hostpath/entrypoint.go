package hostpath

// EntryPoint is the path of the entry point that runs "helper verb NAME":
// the helper's path, a dash and the verb (left4me-overlay-mount,
// left4me-systemctl-start, ...), in the helper's directory. sudo grants the
// left4me user these entry points, one per verb, instead of the helpers
// with an argument pattern, because sudo-rs cannot match one (see
// docs/security.md). Each takes exactly one argument, the instance name.
func EntryPoint(helper, verb string) string { return helper + "-" + verb }
