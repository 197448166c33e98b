// Package steps is the installer's step engine: ordered steps that read the
// host's state, decide, and either change it or say what they would change.
//
// It holds the machinery only: the Step interface and its optional extras
// (step.go), the Engine that runs a plan and counts outcomes (engine.go), the
// Gate through which every change is made or, in a dry run, recorded
// (gate.go), compare-before-write files and directories (files.go,
// dir_linux.go), and the events and their printers (event.go, print.go).
//
// The steps themselves, and the plan that orders them, are in package deploy
// (the repository root): one file per step, named as the step.
package steps
