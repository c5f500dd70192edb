package reportapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/mcptools"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// routeMCP serves runledger's MCP tools over streamable HTTP, behind the
// same server settings (auth, TLS, Host check) as the other routes.
const routeMCP = "/mcp"

// mcpHandler returns the /mcp handler: one MCP server over this
// extension's index and ledgers, shared by every session.
func (r *reportAPI) mcpHandler() http.Handler {
	srv := mcptools.NewServer(mcpBackend{r}, mcptools.Version)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
}

// mcpBackend is mcptools.Backend over the extension's index and the report
// builds the HTTP routes make (same options, same concurrency bound).
type mcpBackend struct{ r *reportAPI }

func (b mcpBackend) ListRuns(_ context.Context, q runindex.Query) (*runindex.Page, error) {
	page, err := b.r.index.List(q)
	if err != nil {
		return nil, err
	}
	return &page, nil
}

func (b mcpBackend) Report(ctx context.Context, runID string, page reportclient.TimelinePage) (*report.Report, error) {
	limit := page.Limit
	if limit == 0 {
		limit = b.r.cfg.TimelineLimit
	}
	if limit > MaxTimelineLimit || page.Offset > MaxTimelineOffset {
		return nil, fmt.Errorf("timeline page past the limits (limit %d, offset %d)", MaxTimelineLimit, MaxTimelineOffset)
	}
	opts := report.Options{Now: b.r.now, StallAfter: b.r.cfg.StallAfter, TraceURL: b.r.cfg.TraceURL,
		Remediations: b.r.remediations, TimelineOffset: page.Offset, TimelineLimit: limit}
	if b.r.fed != nil {
		// With peers: the run wherever it is (federation_report.go).
		return b.r.clusterReport(ctx, runID, opts)
	}
	p, err := b.r.findRun(runID)
	if err != nil {
		return nil, err
	}
	if !b.r.acquireBuild() {
		return nil, b.r.busyError()
	}
	defer b.r.releaseBuild()
	return b.r.build(ctx, p, runID, opts)
}

func (b mcpBackend) Ledger(ctx context.Context, runID string) (io.ReadCloser, error) {
	if b.r.fed != nil {
		return b.r.clusterLedger(ctx, runID)
	}
	p, err := b.r.findRun(runID)
	if err != nil {
		return nil, err
	}
	return ledger.Open(p)
}

func (b mcpBackend) Insights(ctx context.Context, v url.Values) (*insights.Insights, error) {
	now := b.r.now()
	q, err := insights.ParseQuery(v, now)
	if err != nil {
		return nil, err
	}
	if !b.r.acquireBuild() {
		return nil, b.r.busyError()
	}
	defer b.r.releaseBuild()
	return b.r.computeInsights(ctx, q, now, b.r.fed != nil)
}

func (b mcpBackend) Diff(_ context.Context, a, bID string) (*insights.RunDiff, error) {
	if err := checkRunID(a); err != nil {
		return nil, err
	}
	return insights.DiffRuns(b.r.index, b.r.cfg.Directory, a, bID)
}
