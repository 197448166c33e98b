// Package daytwo holds the installer's day-two verbs on a host: status
// (status.go, statuscheck.go), which runs the plan of package deploy as a
// dry run and measures the host against its own release record, and
// rollback (rollback.go, legacylock.go), which finds the release to put
// back and checks its kept files.
package daytwo
