// Package steps is the installer's steps and their engine: ordered steps
// that read the host's state, decide, and either change it or say what they
// would change.
//
// The machinery: the Step interface and its optional extras (step.go), the
// Engine that runs a plan and counts outcomes (engine.go), the Gate through
// which every change is made or, in a dry run, recorded (gate.go),
// compare-before-write files and directories (files.go, dir_linux.go), and
// the events and their printers (event.go, print.go). It builds on every
// platform: the workstation prints the events.
//
// The steps, linux only: one file per step, named as the step
// (preflight.go, packages.go, accounts.go, directories.go, binaries.go,
// entrypoints.go, sudoers.go, units.go, migration.go, restart.go,
// verify.go, release.go, statemount.go), each built by its constructor
// (Preflight, ...) on the Host of one run (host.go); the helpers they share
// in common.go, and the sweep of what killed runs leave in sweep.go. The
// plan that orders them is in package deploy (deploy.go at the repository
// root).
package steps
