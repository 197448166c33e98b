package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/left4me/left4me-deploy/internal/daytwo"
	"github.com/left4me/left4me-deploy/internal/hostpath"
	"github.com/left4me/left4me-deploy/internal/protocol"
	"github.com/left4me/left4me-deploy/internal/remote"
	"github.com/left4me/left4me-deploy/internal/textsafe"
	"github.com/left4me/left4me-deploy/steps"
)

func statusCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each host's release, drift, migration, web app and game servers",
		UsageText: "left4me-deploy status [ssh flags] [--json] [--bundle DIR] [--parallel N] [--timeout DURATION] [--hosts FILE] [--limit GROUP|PATTERN] user@host[:port]...\nleft4me-deploy status --local [--root DIR] [--json]",
		Description: "One ssh connection per host, hosts in parallel. Drift is what a deploy would change now (its dry run).\n" +
			"Two questions per host: RECORDED says whether it still runs the release it recorded (its files, the units systemd loaded,\n" +
			"the web app's start, no leftovers of an interrupted deploy; no bundle needed), DRIFT whether it runs what a deploy from here\n" +
			"(this build, or --bundle) would install.\n" +
			"Exit status: 0 every host in sync, 3 drift on a host, 5 a host that does not match its own record, 4 a host unreachable,\n" +
			"failing to report, or its web app not active (the highest wins: 4, then 5, then 3), 2 usage.",
		Flags: flags(join(sshFlagNames, hostFlagNames, []string{"json", "local", "bin-dir", "timeout"}, verboseFlagNames)...),
		Action: func(c *cli.Context) error {
			if c.Bool("local") {
				return localStatus(c, e)
			}
			d, targets, err := hostDeployer(c, printer(c, e, io.Discard, false), protocol.HostArgs{Verb: protocol.VerbStatus})
			if err != nil {
				return usage(c, "%v", err)
			}
			if !c.IsSet("parallel") {
				// Status only reads: every host at once, within reason.
				d.Parallel = min(len(targets), 32)
			}
			if d.HostTimeout = c.Duration("timeout"); d.HostTimeout <= 0 {
				return usage(c, "--timeout %s: want a positive duration such as 90s or 5m", d.HostTimeout)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			var rows []statusRow
			for _, r := range d.Deploy(ctx, targets) {
				rows = append(rows, rowOf(r))
			}
			return printStatus(e.Stdout, rows, c.Bool("json"))
		},
	}
}

// statusRow is one host's line of the status table (and its JSON object).
type statusRow struct {
	Schema int                  `json:"schema"` // steps.SchemaVersion
	Type   string               `json:"type"`   // "status"
	Host   string               `json:"host"`
	Status *protocol.HostStatus `json:"status,omitempty"`
	Error  string               `json:"error,omitempty"`
	// Result is the verdict (daytwo.Judge) the exit status sums up.
	Result daytwo.Result `json:"result"`
}

func rowOf(r remote.Result) statusRow {
	row := statusRow{Host: r.Target.Spec, Status: r.Report}
	if r.Err != nil {
		row.Error = r.Err.Error()
	} else if row.Status == nil && row.Error == "" {
		row.Error = "the host sent no status"
	}
	row.Result = daytwo.Judge(row.Status, row.Error)
	return row
}

// printStatus prints the table (or JSON) and returns the exit status.
func printStatus(w io.Writer, rows []statusRow, asJSON bool) error {
	results := make([]daytwo.Result, len(rows))
	for i, r := range rows {
		results[i] = r.Result
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			r.Schema, r.Type = steps.SchemaVersion, string(protocol.EventStatus)
			enc.Encode(r)
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tRESULT\tRELEASE\tVERSION\tCOMMIT\tDEPLOYED\tRECORDED\tDRIFT\tMIGRATED\tWEB\tINSTANCES")
		for _, r := range rows {
			st := r.Status
			if st == nil {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", textsafe.Line(r.Host), r.Result)
				continue
			}
			rel, ver, commit, when := "none", "-", "-", "-"
			if st.Release != nil {
				rel, ver, when = st.Release.ID, st.Release.Version, st.Release.Time.Format("2006-01-02 15:04")
				commit = st.Release.ShortCommit()
			}
			migrated := "no"
			if st.Migration.Sentinel {
				migrated = "yes"
			}
			recorded := "-"
			if st.Recorded != nil {
				recorded = "yes"
				if !st.Recorded.Matches {
					recorded = "no"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", textsafe.Line(r.Host), r.Result, textsafe.Quote(rel), textsafe.Quote(ver), textsafe.Quote(commit), when,
				recorded, len(st.Drift), migrated, textsafe.Quote(st.Web), instanceSummary(st.Instances))
		}
		tw.Flush()
		for _, r := range rows {
			for _, l := range detailLines(r) {
				fmt.Fprintf(w, "%s: %s\n", textsafe.Line(r.Host), textsafe.Line(l))
			}
		}
	}
	if code := daytwo.Exit(results); code != daytwo.ExitInSync {
		return exitError{code, ""}
	}
	return nil
}

func instanceSummary(list []protocol.Instance) string {
	active, mounted := 0, 0
	for _, i := range list {
		if i.State == "active" {
			active++
		}
		if i.Mounted {
			mounted++
		}
	}
	return fmt.Sprintf("%d (%d active, %d mounted)", len(list), active, mounted)
}

// detailLines are the lines under the table: why a host failed, its drift,
// its migration report and every instance.
func detailLines(r statusRow) []string {
	var out []string
	if r.Error != "" {
		out = append(out, "error: "+textsafe.Field(r.Error))
	}
	st := r.Status
	if st == nil {
		return out
	}
	for _, f := range st.Failed {
		out = append(out, "failed: "+f.Step+": "+textsafe.Field(f.Reason))
	}
	if st.Recorded != nil {
		for _, p := range st.Recorded.Problems() {
			out = append(out, "recorded: "+textsafe.Field(p))
		}
	}
	for _, d := range st.Drift {
		out = append(out, "drift: "+d.Step+": "+textsafe.Field(d.Reason))
	}
	if st.WebReason != "" {
		out = append(out, "web: "+textsafe.Field(st.WebReason))
	} else if daytwo.WebDown(st) {
		out = append(out, "web: "+hostpath.WebUnit+" is "+textsafe.Field(st.Web))
	}
	if st.Migration.Report != "" {
		out = append(out, "migration report: "+textsafe.Field(st.Migration.Report))
	}
	if st.InstancesError != "" {
		out = append(out, "instances: "+textsafe.Field(st.InstancesError))
	}
	for _, i := range st.Instances {
		m := "not mounted"
		if i.Mounted {
			m = "mounted"
		}
		out = append(out, fmt.Sprintf("instance %s: %s, %s %s", textsafe.Quote(i.Name), m, textsafe.Quote(i.Unit), textsafe.Quote(i.State)))
	}
	return out
}
