package tui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/runindex"
)

// manyRuns writes n finished runs, newest last; the oldest failed of them
// failed, so they are not among the newest runindex.MaxLimit.
func manyRuns(t *testing.T, n, failed int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		id := fmt.Sprintf("r-%04d", i)
		t0 := base.Add(time.Duration(i) * time.Second)
		status := "ok"
		if i < failed {
			status = "failed"
		}
		writeRun(t, dir, ln(id, 1, t0, "run.start", "ok"), ln(id, 2, t0.Add(time.Millisecond), "run.end", status))
	}
	return dir
}

// TestListShowsEveryRun: with 1,200 runs the list says 1200, and the status
// filters find the 10 failures among the oldest, from a ledger directory
// and from a server alike.
func TestListShowsEveryRun(t *testing.T) {
	dir := manyRuns(t, 1200, 10)
	for name, src := range map[string]Source{
		"dir":    NewDirSource(dir),
		"server": httpSource(t, fakeReportAPI(t, dir, true)),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, src, Options{})
			h.checkGeometry()
			h.mustContain("1200 runs", "r-1199")
			h.keys("s")
			h.mustContain("status=failed", "10 of 1200 runs")
			for i := range 10 {
				h.mustContain(fmt.Sprintf("r-%04d", i))
			}
			h.keys("esc", "/", "status:fail", "enter")
			h.mustContain("10 of 1200 runs", "r-0000", "r-0009")
			h.keys("esc", "G")
			if !strings.Contains(h.selectedRow(), "r-0000") {
				t.Fatalf("G did not reach the oldest run: %q", h.selectedRow())
			}
		})
	}
}

// pagedSource lists n synthetic runs in pages, as an index does; every
// seventh run failed.
type pagedSource struct {
	DirSource // Name and Run are not used
	n         int
}

func (s *pagedSource) Name() string { return "paged" }

func (s *pagedSource) Runs(ctx context.Context, q runindex.Query) (RunList, error) {
	var all []runindex.Entry
	for i := s.n - 1; i >= 0; i-- {
		st := "completed"
		if i%7 == 0 {
			st = "failed"
		}
		if len(q.Statuses) > 0 && !slices.Contains(q.Statuses, st) {
			continue
		}
		all = append(all, runindex.Entry{RunID: fmt.Sprintf("r-%05d", i), Status: st, StartedAt: base.Add(time.Duration(i) * time.Second)})
	}
	return listAll(ctx, q, func(_ context.Context, q runindex.Query) (runindex.Page, error) {
		start := 0
		if q.Cursor != "" {
			start, _ = strconv.Atoi(q.Cursor)
		}
		if len(q.Statuses) == 0 && q.Limit == 1 {
			return runindex.Page{Matched: s.n, Runs: all[:min(1, len(all))]}, nil
		}
		end := min(start+q.Limit, len(all))
		p := runindex.Page{Matched: len(all), Runs: all[start:end]}
		if end < len(all) {
			p.NextCursor = strconv.Itoa(end)
		}
		return p, nil
	})
}

// TestListBeyondMaxListRuns: past MaxListRuns the title says how many runs
// there are and that the newest are shown, and a status filter still finds
// the matches among the oldest, as it is asked of the index.
func TestListBeyondMaxListRuns(t *testing.T) {
	n := MaxListRuns + 5000
	h := newHarness(t, &pagedSource{n: n}, Options{})
	h.checkGeometry()
	h.mustContain(fmt.Sprintf("newest %d of %d runs", MaxListRuns, n))
	h.keys("s")
	failed := (n + 6) / 7
	h.mustContain(fmt.Sprintf("%d of %d runs", failed, n))
	h.keys("G")
	if !strings.Contains(h.selectedRow(), "r-00000") {
		t.Fatalf("the oldest failed run is not in the failed list: %q", h.selectedRow())
	}
}
