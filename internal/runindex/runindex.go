// Package runindex keeps an in-memory index of the runs in a ledger
// directory (docs/design.md §2): one entry per ledger file with the run id,
// status, start/end, services, kinds, event count and path. It is built by
// scanning the date folders and kept fresh by Refresh, which reads only what
// was appended to each file since the previous call. In the collector the
// ledger store reportapi owns hands it every append inside the write call
// (Appended), so it seldom reads a file; the CLI refreshes it once.
//
// Runs being written are live: a state per file in plain maps (live.go).
// Finished runs settle into immutable sorted segments per date folder
// (settled.go). Listings merge both newest first (query.go).
package runindex

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runledger/runledger/internal/report"
)

// Options tune an Index.
type Options struct {
	// StallAfter is passed to the status rules (default report.DefaultStallAfter).
	StallAfter time.Duration
	// Now is the clock for stall detection (default time.Now).
	Now func() time.Time
	// Remediations classifies stop reasons (Entry.StopErrorCategory); nil
	// uses the built-in table.
	Remediations *report.RemediationTable
}

// Index is the run index of one ledger directory. It is safe for concurrent
// use: Refresh may run while List and Get are served.
type Index struct {
	dir  string
	opts Options

	refreshMu sync.Mutex // one Refresh at a time; guards days
	days      map[string]*dayCache
	clock     func() time.Time // wall clock for settling; replaced in tests

	internMu sync.Mutex
	interned map[string]string    // services and kinds, shared by all runs
	lists    map[string]*[]string // sorted lists of them by their joined form
	listKey  []byte               // scratch for lists' keys

	notifyMu sync.Mutex
	pending  map[string]struct{} // paths appended to since the last refresh
	notified atomic.Bool         // a writer notifies appends: skip quick polls
	absDir   string
	sameDir  sync.Map // other spellings of a directory -> whether it is absDir

	mu sync.RWMutex
	// Live runs. Every run passes through these maps; Go maps do not
	// shrink but reuse deleted slots, so they stay at the size of the most
	// runs live at once, not of all runs ever indexed.
	files   map[string]*fileState // by path
	byRun   map[string]*fileState // by run id
	sorted  []*fileState          // byRun newest first; nil when stale
	settled settledStore          // finished runs (settled.go)
	scanned bool
}

// New returns an empty index of dir; call Refresh to fill it.
func New(dir string, opts Options) *Index {
	if opts.StallAfter <= 0 {
		opts.StallAfter = report.DefaultStallAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dir = filepath.Clean(dir)
	absDir, err := filepath.Abs(dir)
	if err != nil {
		absDir = filepath.Clean(dir)
	}
	return &Index{dir: dir, opts: opts, files: map[string]*fileState{}, byRun: map[string]*fileState{},
		days: map[string]*dayCache{}, interned: map[string]string{}, lists: map[string]*[]string{}, clock: time.Now, pending: map[string]struct{}{}, absDir: absDir,
		settled: settledStore{folders: map[string]*folder{}}}
}

// Dir returns the ledger directory.
func (ix *Index) Dir() string { return ix.dir }

// Scanned reports whether at least one Refresh completed.
func (ix *Index) Scanned() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.scanned
}

// Run refreshes the index every interval until ctx is done: a full Refresh
// first and then every fullEvery polls, quick polls in between (see
// refresh). onError, when not nil, receives refresh errors.
//
// Once the index is told of appends (Appended), polls read only the
// notified files, and the full refresh, which catches files written by other
// processes and removed ones, runs every notifiedFullEvery polls (ten
// minutes at reportapi's default 500ms): with a hundred thousand files a
// full refresh lists and stats every one of them. Every freezeEvery polls,
// runs finished and unchanged for a while settle (settled.go).
func (ix *Index) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	const fullEvery, notifiedFullEvery, freezeEvery = 20, 1200, 2
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		var err error
		switch {
		case ix.notified.Load() && i%notifiedFullEvery != 0:
			_, err = ix.refreshPending()
		default:
			_, err = ix.refresh(i%fullEvery == 0)
		}
		if err != nil && onError != nil {
			onError(err)
		}
		if i%freezeEvery == 0 {
			ix.freeze(ix.clock())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Entry is one run in the index.
type Entry struct {
	RunID       string     `json:"run_id"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	LastEventAt time.Time  `json:"last_event_at"`
	Services    []string   `json:"services"`
	Kinds       []string   `json:"kinds"`
	EventCount  int        `json:"event_count"`
	// SkippedLines counts lines that could not be parsed.
	SkippedLines int    `json:"skipped_lines"`
	Path         string `json:"path"`
	// StopCategory, StopStage and StopErrorCode are the category, stage
	// and error_code of the run report's stop_reason, from the summary
	// lines the index reads (see Stop for where they can differ).
	StopCategory  string `json:"stop_category"`
	StopStage     string `json:"stop_stage,omitempty"`
	StopErrorCode string `json:"stop_error_code,omitempty"`
	// StopErrorCategory is the taxonomy's class of the stop reason
	// (report's stop_reason.error_category) for runs that stopped on an
	// error, a timeout or a cancellation: "unknown" when no rule of the
	// remediation table classifies it.
	StopErrorCategory string `json:"stop_error_category,omitempty"`
}

// errorCategory classifies stop reason st with the index's remediation
// table, as the report does from the root cause's stage and code (the
// index has no detail text), "" when the run did not stop on a failure.
func (ix *Index) errorCategory(st Stop) string {
	switch st.Category {
	case report.CategoryError, report.CategoryTimeout, report.CategoryCancelled:
	default:
		return ""
	}
	code := st.ErrorCode
	if code == "" && st.Category == report.CategoryCancelled {
		code = "cancelled"
	}
	tab := ix.opts.Remediations
	if tab == nil {
		tab = report.DefaultRemediations()
	}
	return tab.Lookup(st.Stage, code, "").Category
}

// classified returns e with its stop reason's error category.
func (ix *Index) classified(e Entry) Entry {
	e.StopErrorCategory = ix.errorCategory(Stop{Category: e.StopCategory, Stage: e.StopStage, ErrorCode: e.StopErrorCode})
	return e
}

// withStop returns e with the stop reason st.
func (e Entry) withStop(st Stop) Entry {
	e.StopCategory, e.StopStage, e.StopErrorCode = st.Category, st.Stage, st.ErrorCode
	return e
}

func (ix *Index) entry(f *fileState, now time.Time) Entry {
	status := f.tracker.Status(now, ix.opts.StallAfter)
	e := Entry{
		RunID:        f.runID,
		Status:       status,
		StartedAt:    f.tracker.First().UTC(),
		LastEventAt:  f.tracker.Last().UTC(),
		Services:     f.services(),
		Kinds:        f.kindList(),
		EventCount:   f.tracker.Events(),
		SkippedLines: f.skipped,
		Path:         filepath.Join(ix.dir, f.path),
	}
	if end, ok := f.tracker.EndTime(status); ok {
		end = end.UTC()
		e.EndedAt = &end
	}
	return e.withStop(f.stopReason(status)).withLists()
}

// withLists returns e with empty service and kind lists rather than nil
// (JSON [] rather than null).
func (e Entry) withLists() Entry {
	if e.Services == nil {
		e.Services = []string{}
	}
	if e.Kinds == nil {
		e.Kinds = []string{}
	}
	return e
}

// Get returns the entry of a run.
func (ix *Index) Get(runID string) (Entry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if f := ix.byRun[runID]; f != nil {
		return ix.classified(ix.entry(f, ix.opts.Now())), true
	}
	if s, i, ok := ix.settled.find(runID); ok {
		return ix.classified(s.entry(ix.dir, i)), true
	}
	return Entry{}, false
}

// Len returns the number of runs in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byRun) + ix.settled.len()
}

// order compares two runs, by start time (Unix nanoseconds) and run id, in
// listing order: newest first, then by run id. Live states, settled
// segments, their merge and cursors all use it.
func order(aFirst int64, aID string, bFirst int64, bID string) int {
	return cmp.Or(cmp.Compare(bFirst, aFirst), strings.Compare(aID, bID))
}

// newer orders live states in listing order.
func newer(a, b *fileState) int { return order(a.firstNanos(), a.runID, b.firstNanos(), b.runID) }

// firstNanos is the start time as ordered in listings and cursors: Unix
// nanoseconds, and the smallest value for a file without events.
func (f *fileState) firstNanos() int64 {
	if f.tracker.Events() == 0 {
		return math.MinInt64
	}
	return f.tracker.First().UnixNano()
}

// sortedSnapshot returns the live runs newest first, rebuilding the order
// after a change. The returned slice and the states it points to are never
// modified.
func (ix *Index) sortedSnapshot() []*fileState {
	ix.mu.RLock()
	s := ix.sorted
	ix.mu.RUnlock()
	if s != nil {
		return s
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.sorted == nil {
		s := make([]*fileState, 0, len(ix.byRun))
		for _, f := range ix.byRun {
			s = append(s, f)
		}
		slices.SortFunc(s, newer)
		ix.sorted = s
	}
	return ix.sorted
}

// settledSnapshot returns every settled segment; segments are immutable.
func (ix *Index) settledSnapshot() []*segment {
	ix.mu.RLock()
	v := ix.settled.view
	ix.mu.RUnlock()
	if v != nil {
		return v
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.settled.snapshot()
}

// NameUsualStage completes the stop reason of an unfinished rep that
// declared no stages with the stage that came next in the newest completed
// run of one of its services (see report.Report.NameUsualStage). It costs a
// summary read of that one run's ledger, and only for such reports.
func (ix *Index) NameUsualStage(rep *report.Report) error {
	if !rep.NeedsUsualStages() {
		return nil
	}
	for _, svc := range rep.Services {
		stages, from, err := ix.UsualStages(svc, rep.RunID)
		if err != nil {
			return err
		}
		if from != "" {
			rep.NameUsualStage(stages, from)
			return nil
		}
	}
	return nil
}

// UsualStages returns the stage order (report.StageOrder) of the newest
// completed run of service other than exclude, and that run's id: what an
// unfinished run of the service would have done next. Empty when the index
// knows no such run.
func (ix *Index) UsualStages(service, exclude string) ([]string, string, error) {
	page, err := ix.List(Query{Statuses: []string{report.StatusCompleted}, Service: service, Limit: 5})
	if err != nil {
		return nil, "", err
	}
	for _, e := range page.Runs {
		if e.RunID == exclude {
			continue
		}
		stages, err := report.StageOrder(e.Path)
		if err != nil {
			return nil, "", fmt.Errorf("stage order of run %q: %w", e.RunID, err)
		}
		return stages, e.RunID, nil
	}
	return nil, "", nil
}
