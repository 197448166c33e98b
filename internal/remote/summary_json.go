package remote

import (
	"time"

	"github.com/left4me/left4me-deploy/steps"
)

// The JSON lines that close a rollout (schema steps.SchemaVersion; see
// docs/json-schema/left4me-deploy.schema.json): one "summary" per host,
// then one "rollout" line.

// Result statuses of a host in a rollout's JSON summary.
const (
	SummaryOK     = "ok"
	SummaryFailed = "failed"
	SummaryNotRun = "not_run"
)

// hostSummary is one host's closing line.
type hostSummary struct {
	Schema int             `json:"schema"`
	Type   steps.EventType `json:"type"`
	Host   string          `json:"host"`
	// Status is ok, failed or not_run.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Counts are the plan's, present only when the host's plan reported
	// them.
	*steps.Counts
	DurationMS int64 `json:"duration_ms"`
	// Release is the release the host runs after the run ("" unknown).
	Release  string    `json:"release,omitempty"`
	Arch     string    `json:"arch,omitempty"`
	Binaries *binaries `json:"binaries,omitempty"`
}

type binaries struct {
	Sent   int `json:"sent"`
	Cached int `json:"cached"`
}

func hostSummaryOf(r Result) hostSummary {
	s := hostSummary{Schema: steps.SchemaVersion, Type: steps.EventSummary, Host: r.Target.Spec, Status: SummaryOK,
		DurationMS: r.Duration.Milliseconds(), Release: r.Release, Arch: r.Arch}
	if r.Summary != nil {
		s.Counts = &steps.Counts{OK: r.Summary.OK, Changed: r.Summary.Changed, Failed: r.Summary.Failed, Skipped: r.Summary.Skipped}
	}
	if r.Arch != "" {
		s.Binaries = &binaries{Sent: r.Sent, Cached: r.Cached}
	}
	switch {
	case r.NotRun:
		s.Status = SummaryNotRun
	case r.Failed():
		s.Status = SummaryFailed
	}
	if r.Err != nil {
		s.Reason = r.Err.Error()
	} else if r.Failed() && r.Summary == nil {
		s.Reason = "no summary from the host"
	}
	return s
}

// EventRollout is the last line of a rollout in JSON.
const EventRollout steps.EventType = "rollout"

type rolloutEnd struct {
	Schema     int             `json:"schema"`
	Type       steps.EventType `json:"type"`
	Verb       string          `json:"verb"`
	Hosts      int             `json:"hosts"`
	OK         int             `json:"ok"`
	Failed     int             `json:"failed"`
	NotRun     int             `json:"not_run"`
	DurationMS int64           `json:"duration_ms"`
	// RetryFile lists the failed and not-run hosts ("" when none).
	RetryFile string `json:"retry_file,omitempty"`
}

// RolloutEnd closes a rollout: in JSON one "rollout" line with the totals
// and the retry file; in text nothing (the summary table and the exit
// message say it).
func (p *Printer) RolloutEnd(verb string, results []Result, took time.Duration, retryFile string) {
	if !p.JSON {
		return
	}
	t := Count(results)
	p.jsonLine(rolloutEnd{Schema: steps.SchemaVersion, Type: EventRollout, Verb: verb, Hosts: len(results), OK: t.OK, Failed: t.Failed, NotRun: t.NotRun,
		DurationMS: took.Milliseconds(), RetryFile: retryFile})
}
