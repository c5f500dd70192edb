// Package mcptools is runledger's Model Context Protocol server: the tools
// an AI agent calls to find runs, read why they stopped and read their
// ledgers. One implementation serves both transports: `runledger mcp` over
// stdio (reading a ledger directory, or a reportapi server) and reportapi's
// /mcp route (streamable HTTP, reading the extension's own index).
package mcptools

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// Backend is where the tools read runs. *reportclient.Client is one (a
// reportapi server); DirBackend reads a ledger directory; reportapi
// implements it over its own index. A run that does not exist is an error
// matching reportclient.ErrRunNotFound.
type Backend interface {
	ListRuns(ctx context.Context, q runindex.Query) (*runindex.Page, error)
	Report(ctx context.Context, runID string, page reportclient.TimelinePage) (*report.Report, error)
	Ledger(ctx context.Context, runID string) (io.ReadCloser, error)
	// Insights answers across the runs the query (since, until, service,
	// kind as URL parameters) selects.
	Insights(ctx context.Context, q url.Values) (*insights.Insights, error)
	// Diff compares run a with run b ("auto": a's baseline); an unknown run
	// matches ErrRunNotFound.
	Diff(ctx context.Context, a, b string) (*insights.RunDiff, error)
}

// Version is the server version announced on initialize: the version of
// the tools' contract (docs/design.md §4).
const Version = "1.0.0"

// ErrRunNotFound is the error of an unknown run (reportclient's, so that a
// server's 404 and a local miss read the same).
var ErrRunNotFound = reportclient.ErrRunNotFound

// Bounds of get_run_ledger.
const (
	DefaultLedgerLimit = 200
	MaxLedgerLimit     = 1000
)

// NewServer returns an MCP server with runledger's tools over b. version is
// the server version announced on initialize.
func NewServer(b Backend, version string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "runledger", Title: "runledger run reports", Version: version}, &mcp.ServerOptions{
		Instructions: "runledger answers what happened in a run of an instrumented service and why it stopped. " +
			"Given a run id (the X-Run-Id a request returned, or one from list_runs), call get_run_report: its stop_reason " +
			"names the category, the failing step, error code, detail and a remediation. Use list_runs to find runs " +
			"(e.g. status=failed, since=1h) and get_run_ledger for the raw step events.",
	})
	t := tools{b: b, now: time.Now}
	mcp.AddTool(s, &mcp.Tool{
		Name:  "list_runs",
		Title: "List runs",
		Description: "List runs newest first, with their status and why they stopped (stop_category, stop_stage, stop_error_code). " +
			"Filter by status (completed, failed, cancelled, in_progress, stalled; comma-separated), service, kind (a step kind or stage, glob allowed), " +
			"stop category, error_code, and a time window (since/until: RFC 3339 or a duration back from now such as 1h). " +
			"Pass next_cursor back as cursor for the next page. Use it to find a run id when you do not have one, or to see which runs failed recently.",
	}, t.listRuns)
	mcp.AddTool(s, &mcp.Tool{
		Name:  "get_run_report",
		Title: "Get a run's report",
		Description: "The report of one run: status, stop_reason (category, failing kind and stage, error_code, detail, remediation, confidence, evidence), " +
			"per-stage statistics, errors, resources, spans and a page of the timeline. Call it with the X-Run-Id your request returned " +
			"(or a run_id from list_runs) to learn why the run stopped and what to do. format md returns the same report as Markdown text.",
	}, t.getRunReport)
	mcp.AddTool(s, &mcp.Tool{
		Name:  "get_run_ledger",
		Title: "Read a run's ledger",
		Description: "The raw ledger lines of one run in file order: one JSON object per step event (v, run_id, seq, ts, kind, status, error_code, detail, " +
			"duration_ms, sizes, resources, attrs, trace and span ids), and span records (\"rec\":\"span\"). Page with offset and limit " +
			"(default 200, at most 1000). Use it when the report is not enough and you need every attribute of the steps.",
	}, t.getRunLedger)
	mcp.AddTool(s, &mcp.Tool{
		Name:  "get_insights",
		Title: "Insights across runs",
		Description: "Across the runs that started in a window (default the last 24 h): counts by status and stop category, the top root causes " +
			"(stage, kind, error_code, share, example runs, remediation), per-stage failure rates and p50/p95, values (service, resource.*, attrs.*) " +
			"failing runs have more often than the others, and stages that got worse than in the previous window. Use it to answer why runs fail " +
			"lately or what failing runs have in common.",
	}, t.getInsights)
	mcp.AddTool(s, &mcp.Tool{
		Name:  "diff_runs",
		Title: "Diff two runs",
		Description: "What differs between run a and run b: where their steps first diverge, stages whose count, status or duration differ, and " +
			"changed resources and sizes. Leave b empty (or \"auto\") to compare a with the newest completed run of its service that has the " +
			"most kinds in common: use it to see what a failing run did differently from a good one.",
	}, t.diffRuns)
	return s
}

// InsightsInput is the input of get_insights.
type InsightsInput struct {
	Since   string `json:"since,omitempty" jsonschema:"start of the window: RFC 3339, a date or a duration back from now (default 24h)"`
	Until   string `json:"until,omitempty" jsonschema:"end of the window (default now)"`
	Service string `json:"service,omitempty" jsonschema:"only runs with a step from this service"`
	Kind    string `json:"kind,omitempty" jsonschema:"only runs with a step of this kind or stage"`
}

func (t tools) getInsights(ctx context.Context, _ *mcp.CallToolRequest, in InsightsInput) (*mcp.CallToolResult, *insights.Insights, error) {
	v := url.Values{}
	for k, s := range map[string]string{"since": in.Since, "until": in.Until, "service": in.Service, "kind": in.Kind} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if _, err := insights.ParseQuery(v, t.now()); err != nil {
		return nil, nil, err
	}
	out, err := t.b.Insights(ctx, v)
	if err != nil {
		return nil, nil, fmt.Errorf("insights: %w", err)
	}
	return nil, out, nil
}

// DiffInput is the input of diff_runs.
type DiffInput struct {
	A string `json:"a" jsonschema:"the run to explain, e.g. a failed one"`
	B string `json:"b,omitempty" jsonschema:"the run to compare with; empty or auto: a's baseline"`
}

func (t tools) diffRuns(ctx context.Context, _ *mcp.CallToolRequest, in DiffInput) (*mcp.CallToolResult, *insights.RunDiff, error) {
	if err := checkRunID(in.A); err != nil {
		return nil, nil, err
	}
	d, err := t.b.Diff(ctx, in.A, in.B)
	if err != nil {
		if errors.Is(err, insights.ErrRunNotFound) || errors.Is(err, ErrRunNotFound) {
			return nil, nil, fmt.Errorf("diff %q: %v (list_runs lists the known runs)", in.A, err)
		}
		return nil, nil, fmt.Errorf("diff %q: %w", in.A, err)
	}
	return nil, d, nil
}

type tools struct {
	b   Backend
	now func() time.Time
}

// ListRunsInput is the input of list_runs.
type ListRunsInput struct {
	Status    string `json:"status,omitempty" jsonschema:"keep runs with this status: completed, failed, cancelled, in_progress, stalled (comma-separated for several)"`
	Service   string `json:"service,omitempty" jsonschema:"keep runs with a step from this service"`
	Kind      string `json:"kind,omitempty" jsonschema:"keep runs with a step of this kind or stage (embed matches embed.vllm); glob allowed"`
	Stop      string `json:"stop,omitempty" jsonschema:"keep runs whose stop category is this: completed, error, timeout, cancelled, stalled, in_progress (comma-separated)"`
	ErrorCode string `json:"error_code,omitempty" jsonschema:"keep runs whose stop reason has this error code"`
	Since     string `json:"since,omitempty" jsonschema:"runs started at or after this: RFC 3339 time or a duration back from now (1h, 24h)"`
	Until     string `json:"until,omitempty" jsonschema:"runs started before this: RFC 3339 time or a duration back from now"`
	Limit     int    `json:"limit,omitempty" jsonschema:"page size, 1 to 1000 (default 50)"`
	Cursor    string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

func (t tools) listRuns(ctx context.Context, _ *mcp.CallToolRequest, in ListRunsInput) (*mcp.CallToolResult, *runindex.Page, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("status", in.Status)
	set("service", in.Service)
	set("kind", in.Kind)
	set("stop", in.Stop)
	set("error_code", in.ErrorCode)
	set("since", in.Since)
	set("until", in.Until)
	set("cursor", in.Cursor)
	if in.Limit != 0 {
		v.Set("limit", strconv.Itoa(in.Limit))
	}
	q, err := runindex.ParseQuery(v, t.now())
	if err != nil {
		return nil, nil, err
	}
	page, err := t.b.ListRuns(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("list runs: %w", err)
	}
	return nil, page, nil
}

// RunReportInput is the input of get_run_report.
type RunReportInput struct {
	RunID  string `json:"run_id" jsonschema:"the run id: the X-Run-Id your request returned, or one from list_runs"`
	Format string `json:"format,omitempty" jsonschema:"json (default: the report as structured data) or md (Markdown text)"`
	Offset int    `json:"timeline_offset,omitempty" jsonschema:"first timeline event of the page (default 0)"`
	Limit  int    `json:"timeline_limit,omitempty" jsonschema:"timeline events in the page (default: the server's, 100)"`
}

// RunReportOutput is the output of get_run_report: the report, or with
// format md its Markdown.
type RunReportOutput struct {
	Report   *report.Report `json:"report,omitempty"`
	Markdown string         `json:"markdown,omitempty"`
}

func (t tools) getRunReport(ctx context.Context, _ *mcp.CallToolRequest, in RunReportInput) (*mcp.CallToolResult, RunReportOutput, error) {
	if err := checkRunID(in.RunID); err != nil {
		return nil, RunReportOutput{}, err
	}
	if in.Format != "" && in.Format != "json" && in.Format != "md" {
		return nil, RunReportOutput{}, fmt.Errorf("format %q: want json or md", in.Format)
	}
	if in.Offset < 0 || in.Limit < 0 {
		return nil, RunReportOutput{}, errors.New("timeline_offset and timeline_limit must not be negative")
	}
	rep, err := t.b.Report(ctx, in.RunID, reportclient.TimelinePage{Offset: in.Offset, Limit: in.Limit})
	if err != nil {
		return nil, RunReportOutput{}, runError(in.RunID, err)
	}
	if in.Format == "md" {
		md := rep.Markdown()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: md}}}, RunReportOutput{Markdown: md}, nil
	}
	return nil, RunReportOutput{Report: rep}, nil
}

// RunLedgerInput is the input of get_run_ledger.
type RunLedgerInput struct {
	RunID  string `json:"run_id" jsonschema:"the run id"`
	Offset int    `json:"offset,omitempty" jsonschema:"lines to skip from the start of the ledger (default 0)"`
	Limit  int    `json:"limit,omitempty" jsonschema:"lines to return, 1 to 1000 (default 200)"`
}

// RunLedgerOutput is the output of get_run_ledger.
type RunLedgerOutput struct {
	RunID string `json:"run_id"`
	// Lines are the ledger lines, each a JSON object.
	Lines []map[string]any `json:"lines"`
	// NextOffset continues the listing; absent after the last line.
	NextOffset *int `json:"next_offset,omitempty"`
}

func (t tools) getRunLedger(ctx context.Context, _ *mcp.CallToolRequest, in RunLedgerInput) (*mcp.CallToolResult, RunLedgerOutput, error) {
	out := RunLedgerOutput{RunID: in.RunID, Lines: []map[string]any{}}
	if err := checkRunID(in.RunID); err != nil {
		return nil, out, err
	}
	limit := in.Limit
	switch {
	case in.Offset < 0:
		return nil, out, errors.New("offset must not be negative")
	case limit == 0:
		limit = DefaultLedgerLimit
	case limit < 0 || limit > MaxLedgerLimit:
		return nil, out, fmt.Errorf("limit %d: want 1 to %d", limit, MaxLedgerLimit)
	}
	rc, err := t.b.Ledger(ctx, in.RunID)
	if err != nil {
		return nil, out, runError(in.RunID, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), ledger.MaxLineBytes)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || !json.Valid(line) || line[0] != '{' {
			continue // a line being written, or not a ledger line
		}
		if n >= in.Offset {
			if len(out.Lines) == limit {
				next := n
				out.NextOffset = &next
				break
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				continue
			}
			out.Lines = append(out.Lines, m)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, out, fmt.Errorf("read the ledger of run %q: %w", in.RunID, err)
	}
	return nil, out, nil
}

func checkRunID(id string) error {
	if id == "" {
		return errors.New("run_id is required: the X-Run-Id your request returned, or one from list_runs")
	}
	return nil
}

// runError says plainly that a run is unknown, so an agent can tell it from
// a failure to read.
func runError(id string, err error) error {
	if errors.Is(err, ErrRunNotFound) || errors.Is(err, report.ErrNoEvents) {
		return fmt.Errorf("run %q not found: check the id (list_runs lists the known runs)", id)
	}
	return fmt.Errorf("run %q: %w", id, err)
}
