package remote

// hostSideArgs are the flags of the status, rollback and release record
// features, passed to the plan on the host.
func (a ApplyFlags) hostSideArgs() []string {
	var out []string
	if a.By != "" {
		out = append(out, "--by", a.By)
	}
	if a.Status {
		out = append(out, "--status")
	}
	if a.Rollback {
		out = append(out, "--rollback")
	}
	return out
}
