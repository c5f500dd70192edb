package tui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
	"github.com/runledger/runledger/internal/reportclient"
	"github.com/runledger/runledger/internal/runindex"
)

// MaxListRuns bounds the runs the run list holds: it pages through the
// index up to this many every refresh. Beyond it the newest are shown, the
// title says how many there are, and status filters are asked of the index
// (RunQuery.Statuses), so they still find every match.
const MaxListRuns = 20_000

// RunList is what Source.Runs returns: the runs matching a query, newest
// first, and how many there are.
type RunList struct {
	Runs []runindex.Entry
	// Matched is the number of runs matching the query; more than
	// len(Runs) when MaxListRuns cut the list.
	Matched int
	// Total is the number of runs in the index, matching or not.
	Total int
}

// Truncated reports whether runs matching the query were left out.
func (l RunList) Truncated() bool { return l.Matched > len(l.Runs) }

// listAll pages through list with the cursor until the listing ends or
// MaxListRuns runs are read, and counts the runs of the whole index.
func listAll(ctx context.Context, q runindex.Query, list func(context.Context, runindex.Query) (runindex.Page, error)) (RunList, error) {
	q.Limit, q.Cursor = runindex.MaxLimit, ""
	var out RunList
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		page, err := list(ctx, q)
		if err != nil {
			return out, err
		}
		if first {
			out.Matched = page.Matched
		}
		out.Runs = append(out.Runs, page.Runs...)
		if page.NextCursor == "" || len(out.Runs) >= MaxListRuns {
			break
		}
		q.Cursor = page.NextCursor
	}
	if len(out.Runs) > MaxListRuns {
		out.Runs = out.Runs[:MaxListRuns]
	}
	// Runs that arrived while paging can make the pages hold more than the
	// first page counted.
	out.Matched = max(out.Matched, len(out.Runs))
	out.Total = out.Matched
	if len(q.Statuses) > 0 {
		page, err := list(ctx, runindex.Query{Limit: 1})
		if err != nil {
			return out, err
		}
		out.Total = max(page.Matched, out.Matched)
	}
	return out, nil
}

// MaxLines bounds the ledger lines a run view keeps for its waterfall and
// step pane; the report itself always covers the whole ledger.
const MaxLines = 200_000

// ErrRunNotFound is returned by a Source for a run it does not know. It is
// reportclient's, so a server's 404 and a missing ledger file match alike.
var ErrRunNotFound = reportclient.ErrRunNotFound

// Source is where the terminal UI reads runs from: a ledger directory on this
// machine or a reportapi server. Implementations are safe for concurrent use.
type Source interface {
	// Name describes the source for the title bar ("ledger data/..." or
	// "server http://...").
	Name() string
	// Runs returns the runs matching q (only q.Statuses is used), newest
	// first, at most MaxListRuns, and how many runs there are.
	Runs(ctx context.Context, q runindex.Query) (RunList, error)
	// Run returns the report and the ledger lines of one run; a run the
	// source does not know is ErrRunNotFound.
	Run(ctx context.Context, runID string) (*RunData, error)
	// Insights answers across the runs of the last window (a duration
	// such as 24h or 7d) as GET /reports/insights does.
	Insights(ctx context.Context, window string) (*insights.Insights, error)
	// Diff compares runID with its baseline (the newest completed run of
	// its service with the most kinds in common); a run without one is
	// ErrRunNotFound.
	Diff(ctx context.Context, runID string) (*insights.RunDiff, error)
}

// RunData is what the run view shows: the report and the ledger lines the
// waterfall and the step pane are drawn from.
type RunData struct {
	Report *report.Report
	// Lines are the run's ledger lines in file order (at most MaxLines).
	Lines []ledger.Line
	// Truncated is the number of lines left out beyond MaxLines.
	Truncated int
	// LinesFromTimeline is true when the source could not serve the raw
	// ledger and Lines were rebuilt from the report's timeline page (at
	// most one page; the span waterfall says when a span's steps are not
	// all on it).
	LinesFromTimeline bool
}

// DirSource reads runs from a ledger directory with a run index
// (internal/runindex) and the report builder (internal/report).
type DirSource struct {
	// TraceURL renders the reports' trace_urls (see report.Options).
	TraceURL string

	dir    string
	index  *runindex.Index
	engine *insights.Engine
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]dirCacheEntry
}

type dirCacheEntry struct {
	path  string
	size  int64
	mtime time.Time
	built time.Time
	data  *RunData
}

// dirRebuildAfter is how long an unchanged ledger of an open run is served
// from the cache before its report is rebuilt (the stall rule depends on
// the clock, not only on the file).
const dirRebuildAfter = 15 * time.Second

// NewDirSource returns a Source over the ledger directory dir.
func NewDirSource(dir string) *DirSource {
	return &DirSource{dir: dir, index: runindex.New(dir, runindex.Options{}), engine: insights.NewEngine(),
		now: time.Now, cache: map[string]dirCacheEntry{}}
}

// Name implements Source.
func (s *DirSource) Name() string { return "ledger " + s.dir }

// Runs implements Source: it refreshes the index (reading only what the
// ledgers gained) and lists it. Errors reading single files are returned
// together with the runs that could be listed.
func (s *DirSource) Runs(ctx context.Context, q runindex.Query) (RunList, error) {
	if err := ctx.Err(); err != nil {
		return RunList{}, err
	}
	_, rerr := s.index.Refresh()
	list, err := listAll(ctx, runindex.Query{Statuses: q.Statuses}, func(_ context.Context, q runindex.Query) (runindex.Page, error) {
		return s.index.List(q)
	})
	if err != nil {
		return RunList{}, fmt.Errorf("list runs in %q: %w", s.dir, err)
	}
	return list, rerr
}

// Run implements Source. The report is built in the same pass that collects
// the lines, exactly as report.BuildFile does. An unchanged ledger is served
// from a small cache, so following a finished run costs one stat a second.
func (s *DirSource) Run(ctx context.Context, runID string) (*RunData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, ok := s.index.Get(runID)
	path := e.Path
	if !ok || path == "" {
		p, err := ledger.LocateRun(s.dir, runID)
		if err != nil {
			return nil, err
		}
		path = p
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("run %q: %w", runID, ErrRunNotFound)
		}
		return nil, fmt.Errorf("run %q: %w", runID, err)
	}
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[runID]
	s.mu.Unlock()
	if ok && c.path == path && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) &&
		(!isOpenStatus(c.data.Report.Status) || now.Sub(c.built) < dirRebuildAfter) {
		return c.data, nil
	}
	data, err := buildDirRun(path, runID, now, s.TraceURL)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 16 {
		clear(s.cache)
	}
	s.cache[runID] = dirCacheEntry{path: path, size: fi.Size(), mtime: fi.ModTime(), built: now, data: data}
	s.mu.Unlock()
	return data, nil
}

// Insights implements Source from the directory's run index, with the
// built-in remediation table.
func (s *DirSource) Insights(ctx context.Context, window string) (*insights.Insights, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	q, err := insights.ParseQuery(url.Values{"since": {window}}, now)
	if err != nil {
		return nil, err
	}
	_, _ = s.index.Refresh() // unreadable files are counted in the answer
	in, err := s.engine.Compute(s.index, q, now, nil)
	if err != nil {
		return nil, fmt.Errorf("insights of %q: %w", s.dir, err)
	}
	return in, nil
}

// Diff implements Source.
func (s *DirSource) Diff(ctx context.Context, runID string) (*insights.RunDiff, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, _ = s.index.Refresh()
	return insights.DiffRuns(s.index, s.dir, runID, "auto")
}

func buildDirRun(path, runID string, now time.Time, traceURL string) (*RunData, error) {
	b := report.NewBuilder(report.Options{RunID: runID, LedgerPath: path, Now: func() time.Time { return now }, TraceURL: traceURL})
	data := &RunData{}
	keep := data.keeper(runID)
	st, err := ledger.ReadFileSpans(path, func(l *ledger.Line) error {
		_ = b.Add(l)
		return keep(l)
	}, b.AddSpan)
	if err != nil {
		return nil, err
	}
	if b.Events() == 0 {
		return nil, fmt.Errorf("report %q: %w", path, report.ErrNoEvents)
	}
	data.Report = b.Report(st)
	return data, nil
}

// isOpenStatus reports whether a run with this status may still change
// without anyone noticing from the file alone.
func isOpenStatus(status string) bool {
	return status == report.StatusInProgress || status == report.StatusStalled
}

// keeper returns a ledger.Read callback that keeps the lines of runID, up
// to MaxLines (the rest counted in Truncated). Readers decode each line
// into a zeroed Line, so a shallow copy owns its maps and strings.
func (d *RunData) keeper(runID string) func(*ledger.Line) error {
	return func(l *ledger.Line) error {
		if l.RunID != runID {
			return nil
		}
		if len(d.Lines) >= MaxLines {
			d.Truncated++
			return nil
		}
		d.Lines = append(d.Lines, *l)
		return nil
	}
}
