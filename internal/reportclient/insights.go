package reportclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/runledger/runledger/internal/insights"
)

// RawInsights returns GET /reports/insights with the query q (since,
// until, service, kind) as the server renders it in format, for printing
// verbatim.
func (c *Client) RawInsights(ctx context.Context, q url.Values, format Format) ([]byte, error) {
	accept, err := accepts(format, "insights")
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("format", string(format))
	body, err := c.getAll(ctx, c.endpoint(v, false, "reports", "insights"), accept)
	if err != nil {
		return nil, err
	}
	return body.data, nil
}

// RawDiff returns GET /reports/diff?a=&b= (b "auto": ?baseline=auto) as
// the server renders it in format.
func (c *Client) RawDiff(ctx context.Context, a, b string, format Format) ([]byte, error) {
	v := url.Values{"a": {a}, "format": {string(format)}}
	if b == "" || b == "auto" {
		v.Set("baseline", "auto")
	} else {
		v.Set("b", b)
	}
	accept, err := accepts(format, "diff")
	if err != nil {
		return nil, err
	}
	body, err := c.getAll(ctx, c.endpoint(v, true, "reports", "diff"), accept)
	if err != nil {
		return nil, err
	}
	return body.data, nil
}

// Insights asks GET /reports/insights with the query q (since, until,
// service, kind).
func (c *Client) Insights(ctx context.Context, q url.Values) (*insights.Insights, error) {
	raw, err := c.RawInsights(ctx, q, FormatJSON)
	if err != nil {
		return nil, err
	}
	var in insights.Insights
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode insights: %w", err)
	}
	return &in, nil
}

// Diff asks GET /reports/diff for run a against run b ("auto": a's
// baseline).
func (c *Client) Diff(ctx context.Context, a, b string) (*insights.RunDiff, error) {
	raw, err := c.RawDiff(ctx, a, b, FormatJSON)
	if err != nil {
		return nil, err
	}
	var d insights.RunDiff
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("decode diff: %w", err)
	}
	return &d, nil
}

// InsightsRuns asks GET /reports/insights/runs with the query q (since,
// until, service, kind): the server's own runs as insights read them, for
// computing insights over several servers (reportapi peers).
func (c *Client) InsightsRuns(ctx context.Context, q url.Values) (*insights.FactsPage, error) {
	body, err := c.getAll(ctx, c.endpoint(q, false, "reports", "insights", "runs"), "application/json")
	if err != nil {
		return nil, err
	}
	var page insights.FactsPage
	if err := json.Unmarshal(body.data, &page); err != nil {
		return nil, fmt.Errorf("decode insights runs: %w", err)
	}
	return &page, nil
}

// RawChain returns GET /reports/runs/{run_id}/chain: the runs run_id
// follows by previous_run, newest first, as JSON.
func (c *Client) RawChain(ctx context.Context, runID string) ([]byte, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	body, err := c.getAll(ctx, c.endpoint(nil, true, "reports", "runs", runID, "chain"), "application/json")
	if err != nil {
		return nil, err
	}
	return body.data, nil
}
