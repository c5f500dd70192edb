package main

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/termsafe"
)

type reportFlags struct {
	common
	format string
	out    string
	offset int
	limit  int
}

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := group("report", "Build run reports", stderr)
	var f reportFlags
	run := &cobra.Command{
		Use:   "run <run_id>",
		Short: "Report one run: status, why it stopped, what to do, stages, errors, timeline",
		Long: `Report one run as JSON (default) or Markdown.

The report says whether the run completed, failed, was cancelled, is still
in progress or stalled; for a failed run the stop reason names the root-cause
step, its stage and error code, and a remediation.

Without --server the ledger directory is read directly; with --server the
collector's reportapi extension is asked. With --out DIR the report is
written to DIR/<run>.json and DIR/<run>.md and their paths are printed as
JSON on stdout.`,
		Example: `  runledger report run r-42
  runledger report run r-42 --format md
  runledger report run r-42 --server http://localhost:4320 --out out/run_reports`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd, args[0], &f, stdout, stderr)
		},
	}
	f.register(run, true)
	run.Flags().StringVar(&f.format, "format", "json", "output format: json or md (markdown)")
	run.Flags().StringVar(&f.out, "out", "", "write <run>.json and <run>.md into this directory instead of printing the report")
	run.Flags().IntVar(&f.offset, "offset", 0, "timeline page offset")
	run.Flags().IntVar(&f.limit, "limit", report.DefaultTimelineLimit, "timeline page size")
	cmd.AddCommand(run)
	return cmd
}

func runReport(cmd *cobra.Command, id string, f *reportFlags, stdout, _ io.Writer) error {
	if err := checkFormat(&f.format); err != nil {
		return err
	}
	if f.offset < 0 || f.limit < 1 {
		return usageError("--offset must be >= 0 and --limit >= 1")
	}
	if id == "" {
		return usageError("run id is empty")
	}
	var rep *report.Report
	var raw []byte // the server's rendering, printed as is
	if f.server != "" {
		c, err := f.client(0)
		if err != nil {
			return err
		}
		page := reportclient.TimelinePage{Offset: f.offset, Limit: f.limit}
		if f.out != "" {
			rep, err = c.Report(cmd.Context(), id, page)
		} else {
			raw, err = c.RawReport(cmd.Context(), id, reportclient.Format(f.format), page)
		}
		if err != nil {
			return serverError(err)
		}
	} else {
		if err := f.checkLedgerDir(cmd); err != nil {
			return err
		}
		path, err := ledger.LocateRun(f.ledgerDir, id)
		if err != nil {
			return err
		}
		if err := report.ValidateTraceURL(f.traceURL); err != nil {
			return usageError("--trace-url: %v", err)
		}
		rep, err = report.BuildFile(path, report.Options{RunID: id, StallAfter: f.stallAfter, TraceURL: f.traceURL,
			TimelineOffset: f.offset, TimelineLimit: f.limit})
		if errors.Is(err, report.ErrNoEvents) {
			return notFoundError("run %q has no events yet (%s)", id, path)
		}
		if err != nil {
			return err
		}
		if rep.NeedsUsualStages() {
			// Only an unfinished run without declared stages pays for
			// indexing the directory, to find its service's usual next stage.
			ix := runindex.New(f.ledgerDir, runindex.Options{StallAfter: f.stallAfter})
			if _, err := ix.Refresh(); err == nil {
				_ = ix.NameUsualStage(rep)
			}
		}
	}
	if f.out != "" {
		res, err := report.Save(f.out, rep)
		if err != nil {
			return err
		}
		return writeJSON(stdout, res)
	}
	if f.server != "" {
		if f.format == "md" {
			// Escaped here too: a server of another version may not have.
			// termsafe leaves already escaped text as it is.
			raw = []byte(termsafe.String(string(raw)))
		}
		_, err := stdout.Write(raw)
		return err
	}
	if f.format == "md" {
		return rep.WriteMarkdown(stdout)
	}
	return writeJSON(stdout, rep)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
