package mcptools

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// DirBackend reads runs from a ledger directory, as the CLI does without
// --server. Its run index is refreshed on each listing (reading only what
// the ledgers gained since).
type DirBackend struct {
	dir  string
	opts report.Options

	mu     sync.Mutex
	index  *runindex.Index
	engine *insights.Engine
}

// NewDirBackend returns a Backend over ledger directory dir; opts carries
// StallAfter and TraceURL for the reports.
func NewDirBackend(dir string, opts report.Options) *DirBackend {
	return &DirBackend{dir: dir, opts: opts, index: runindex.New(dir, runindex.Options{StallAfter: opts.StallAfter}),
		engine: insights.NewEngine()}
}

// ListRuns implements Backend.
func (d *DirBackend) ListRuns(_ context.Context, q runindex.Query) (*runindex.Page, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.index.Refresh(); err != nil {
		return nil, fmt.Errorf("index %q: %w", d.dir, err)
	}
	page, err := d.index.List(q)
	if err != nil {
		return nil, err
	}
	return &page, nil
}

func (d *DirBackend) path(runID string) (string, error) {
	return ledger.LocateRun(d.dir, runID)
}

// Report implements Backend.
func (d *DirBackend) Report(_ context.Context, runID string, page reportclient.TimelinePage) (*report.Report, error) {
	p, err := d.path(runID)
	if err != nil {
		return nil, err
	}
	opts := d.opts
	opts.RunID, opts.TimelineOffset, opts.TimelineLimit = runID, page.Offset, page.Limit
	rep, err := report.BuildFile(p, opts)
	if err != nil {
		return nil, err
	}
	if rep.NeedsUsualStages() {
		d.mu.Lock()
		if _, rerr := d.index.Refresh(); rerr == nil {
			_ = d.index.NameUsualStage(rep)
		}
		d.mu.Unlock()
	}
	return rep, nil
}

// Ledger implements Backend: the run's file as it is.
func (d *DirBackend) Ledger(_ context.Context, runID string) (io.ReadCloser, error) {
	p, err := d.path(runID)
	if err != nil {
		return nil, err
	}
	return ledger.Open(p)
}

// Insights implements Backend.
func (d *DirBackend) Insights(_ context.Context, v url.Values) (*insights.Insights, error) {
	q, err := insights.ParseQuery(v, time.Now())
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.index.Refresh(); err != nil {
		return nil, fmt.Errorf("index %q: %w", d.dir, err)
	}
	return d.engine.Compute(d.index, q, time.Now(), nil)
}

// Diff implements Backend.
func (d *DirBackend) Diff(_ context.Context, a, b string) (*insights.RunDiff, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.index.Refresh(); err != nil {
		return nil, fmt.Errorf("index %q: %w", d.dir, err)
	}
	return insights.DiffRuns(d.index, d.dir, a, b)
}

var _ Backend = (*DirBackend)(nil)
var _ Backend = (*reportclient.Client)(nil)
