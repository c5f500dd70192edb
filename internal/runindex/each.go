package runindex

import "github.com/runledger/runledger/internal/report"

// Each calls fn with every run matching q (Limit and Cursor are ignored),
// in no particular order, in one pass over the index: what a caller that
// aggregates over all matching runs (insights) uses instead of paging
// through List, which scans the index once per page. fn returning false
// stops the walk.
func (ix *Index) Each(q Query, fn func(*Entry) bool) {
	q.ErrorCode = report.NormalizeCode(q.ErrorCode)
	now := ix.opts.Now()
	for _, f := range ix.sortedSnapshot() {
		if !ix.matchesLive(&q, f, now) {
			continue
		}
		e := ix.entry(f, now)
		if !fn(&e) {
			return
		}
	}
	for _, s := range ix.settledSnapshot() {
		for i := range s.runs {
			if !s.matches(&q, i) {
				continue
			}
			e := s.entry(ix.dir, i)
			if !fn(&e) {
				return
			}
		}
	}
}
