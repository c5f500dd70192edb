package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runledger/runledger/internal/runindex"
	"github.com/runledger/runledger/internal/termsafe"
)

// Widths, in runes, past which table cells are clipped: run ids and
// service lists come from producers, and tabwriter pads every row to the
// widest cell. 48 keeps ULIDs (26) and UUIDs (36) whole.
const (
	maxIDWidth       = 48
	maxServicesWidth = 60
	// maxStopWidth bounds the STOP cell (category, stage and error code,
	// the latter two from producers).
	maxStopWidth = 48
)

// cell makes producer text one safe table cell of at most width runes,
// escaping first so the width is that of what is printed.
func cell(s string, width int) string { return termsafe.Clip(termsafe.Line(s), width) }

type runsFlags struct {
	common
	statuses  []string
	stops     []string
	errorCode string
	errorCats []string
	service   string
	kind      string
	since     string
	until     string
	limit     int
	cursor    string
	format    string
}

func newRunsCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := group("runs", "List runs", stderr)
	var f runsFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first, with filters",
		Long: `List runs newest first from the ledger directory (or from reportapi with
--server). --since and --until take RFC 3339 times, dates (2026-11-25) or
durations back from now (90m, 36h, 7d). STOP says why a run stopped, as
its report's stop_reason does: the category, then the root cause's
stage/error_code. When more runs match than --limit, the cursor of the next
page is printed on stderr; pass it with --cursor.`,
		Example: `  runledger runs list --status failed --since 24h
  runledger runs list --stop timeout,error --error-code index_not_found
  runledger runs list --error-category dependency,infra
  runledger runs list --service retriever --kind embed --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runsList(cmd, &f, stdout, stderr)
		},
	}
	f.register(list, true)
	list.Flags().StringSliceVar(&f.statuses, "status", nil, "keep runs with this status (completed, failed, cancelled, in_progress, stalled); repeat or comma-separate")
	list.Flags().StringSliceVar(&f.stops, "stop", nil, "keep runs that stopped this way (completed, error, timeout, cancelled, stalled, in_progress); repeat or comma-separate")
	list.Flags().StringVar(&f.errorCode, "error-code", "", "keep runs whose root cause has this error code (http_503 matches \"HTTP 503\")")
	list.Flags().StringSliceVar(&f.errorCats, "error-category", nil, "keep runs whose stop reason is of this error category (user, config, dependency, infra, model, internal, unknown); repeat or comma-separate")
	list.Flags().StringVar(&f.service, "service", "", "keep runs with an event from this service")
	list.Flags().StringVar(&f.kind, "kind", "", "keep runs with a step of this kind, stage (embed) or glob (ann.*)")
	list.Flags().StringVar(&f.since, "since", "", "keep runs started at or after this time")
	list.Flags().StringVar(&f.until, "until", "", "keep runs started before this time")
	list.Flags().IntVar(&f.limit, "limit", runindex.DefaultLimit, "page size")
	list.Flags().StringVar(&f.cursor, "cursor", "", "continue a listing from the cursor printed by the previous page")
	list.Flags().StringVar(&f.format, "format", "table", "output format: table or json")
	cmd.AddCommand(list, newChainCmd(stdout))
	return cmd
}

func runsList(cmd *cobra.Command, f *runsFlags, stdout, stderr io.Writer) error {
	if f.format != "table" && f.format != "json" {
		return usageError("--format %q must be table or json", f.format)
	}
	v := url.Values{}
	if len(f.statuses) > 0 {
		v.Set("status", strings.Join(f.statuses, ","))
	}
	if len(f.stops) > 0 {
		v.Set("stop", strings.Join(f.stops, ","))
	}
	if len(f.errorCats) > 0 {
		v.Set("error_category", strings.Join(f.errorCats, ","))
	}
	for k, s := range map[string]string{"error_code": f.errorCode, "service": f.service, "kind": f.kind, "since": f.since, "until": f.until, "cursor": f.cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	v.Set("limit", strconv.Itoa(f.limit))
	if f.server != "" {
		// The server's cursor is its own (a reportapi with peers answers
		// a federated one): passed on as given, the server checks it.
		v.Del("cursor")
	}
	q, err := runindex.ParseQuery(v, time.Now())
	if err != nil {
		return usageError("%v", err)
	}
	if f.server != "" {
		q.Cursor = f.cursor
	}
	var page runindex.Page
	if f.server != "" {
		c, err := f.client(0)
		if err != nil {
			return err
		}
		p, err := c.ListRuns(cmd.Context(), q)
		if err != nil {
			return serverError(err)
		}
		page = *p
	} else {
		if err := f.checkLedgerDir(cmd); err != nil {
			return err
		}
		ix := runindex.New(f.ledgerDir, runindex.Options{StallAfter: f.stallAfter})
		if _, err := ix.Refresh(); err != nil {
			fmt.Fprintf(stderr, "runledger: warning: %s\n", termsafe.String(err.Error()))
		}
		if page, err = ix.List(q); err != nil {
			return usageError("%v", err)
		}
	}
	if f.format == "json" {
		return writeJSON(stdout, page)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tSTATUS\tSTOP\tSTARTED\tDURATION\tEVENTS\tSERVICES")
	for _, e := range page.Runs {
		end := e.LastEventAt
		if e.EndedAt != nil {
			end = *e.EndedAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", cell(e.RunID, maxIDWidth), termsafe.Line(e.Status),
			cell(e.StopText(), maxStopWidth), e.StartedAt.Format(time.RFC3339), end.Sub(e.StartedAt).Round(time.Millisecond), e.EventCount,
			cell(strings.Join(e.Services, ","), maxServicesWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(stderr, "%d of %d runs shown; next page: --cursor %s\n", len(page.Runs), page.Matched, page.NextCursor)
	}
	return nil
}
