package tui

import (
	"context"
	"fmt"
	"net/url"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// HTTPSource reads runs from a reportapi server (docs/design.md §4):
// GET /reports/runs for the listing, GET /reports/runs/{id} for the report
// and GET /reports/runs/{id}/ledger for the raw lines.
type HTTPSource struct {
	client *reportclient.Client
}

// NewHTTPSource returns a Source reading through client.
func NewHTTPSource(client *reportclient.Client) *HTTPSource {
	return &HTTPSource{client: client}
}

// Name implements Source.
func (s *HTTPSource) Name() string { return "server " + s.client.BaseURL() }

// Runs implements Source: it follows the listing's cursor page by page.
func (s *HTTPSource) Runs(ctx context.Context, q runindex.Query) (RunList, error) {
	list, err := listAll(ctx, runindex.Query{Statuses: q.Statuses}, func(ctx context.Context, q runindex.Query) (runindex.Page, error) {
		p, err := s.client.ListRuns(ctx, q)
		if err != nil {
			return runindex.Page{}, err
		}
		return *p, nil
	})
	if err != nil {
		return RunList{}, fmt.Errorf("list runs: %w", err)
	}
	return list, nil
}

// Run implements Source. When the server does not serve the raw ledger,
// the lines are rebuilt from the report's timeline page.
func (s *HTTPSource) Run(ctx context.Context, runID string) (*RunData, error) {
	rep, err := s.client.Report(ctx, runID, reportclient.TimelinePage{})
	if err != nil {
		return nil, fmt.Errorf("report of run %q: %w", runID, err)
	}
	data := &RunData{Report: rep}
	lb, err := s.client.Ledger(ctx, runID)
	if err == nil {
		_, err = ledger.Read(lb, 0, data.keeper(runID))
		lb.Close()
	}
	if err != nil || len(data.Lines) == 0 && rep.EventCount > 0 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		data.Lines, data.Truncated = linesFromTimeline(rep), 0
		data.LinesFromTimeline = true
	}
	return data, nil
}

// Insights implements Source with GET /reports/insights?since=window.
func (s *HTTPSource) Insights(ctx context.Context, window string) (*insights.Insights, error) {
	in, err := s.client.Insights(ctx, url.Values{"since": {window}})
	if err != nil {
		return nil, fmt.Errorf("insights: %w", err)
	}
	return in, nil
}

// Diff implements Source with GET /reports/diff?a=runID&baseline=auto.
func (s *HTTPSource) Diff(ctx context.Context, runID string) (*insights.RunDiff, error) {
	d, err := s.client.Diff(ctx, runID, "auto")
	if err != nil {
		return nil, fmt.Errorf("diff of run %q: %w", runID, err)
	}
	return d, nil
}

// linesFromTimeline turns the report's timeline page into ledger lines for
// the waterfall.
func linesFromTimeline(r *report.Report) []ledger.Line {
	out := make([]ledger.Line, 0, len(r.Timeline.Events))
	for _, e := range r.Timeline.Events {
		out = append(out, ledger.Line{
			V: ledger.Version, RunID: r.RunID, Seq: e.Seq, TS: e.TS, Kind: e.Kind, Status: e.Status,
			ErrorCode: e.ErrorCode, Detail: e.Detail, DurationMS: e.DurationMS, Sizes: e.Sizes,
			Resources: e.Resources, Attrs: e.Attrs, TraceID: e.TraceID, SpanID: e.SpanID, SpanName: e.SpanName,
			Service: e.Service, EventID: e.EventID,
		})
	}
	return out
}
