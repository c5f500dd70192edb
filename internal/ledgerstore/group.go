package ledgerstore

import (
	"sync"

	"github.com/runledger/runledger/internal/ledger"
)

// grouper makes each run's events contiguous for Writer.Write.
type grouper struct {
	pool sync.Pool // *groupScratch
}

type groupScratch struct {
	runs   []string       // distinct run ids, in order of first event
	counts []int          // events per run
	byRun  map[string]int // index in runs, once there are many
	group  []int32        // run index per event
	out    []ledger.Entry
}

// manyRuns is the number of distinct runs in one write from which run ids
// are looked up in a map rather than by a scan of those seen.
const manyRuns = 16

// group reorders events so that each run's events are contiguous, runs in
// the order of their first event, events of a run in their order. Every
// event is moved at most twice: a stable sort of these large structs moved
// them O(n log n) times (2.5% of the collector's CPU under load), and a
// request that carries a run's held events and its resolving ones has them
// apart.
func (g *grouper) group(events []ledger.Entry) {
	s, _ := g.pool.Get().(*groupScratch)
	if s == nil {
		s = &groupScratch{}
	}
	defer g.put(s)
	grouped, last := true, -1
	for i := range events {
		r := s.index(events[i].RunID)
		if r != last && r < len(s.runs)-1 {
			grouped = false // a run seen before, after another one
		}
		last = r
		s.counts[r]++
		s.group = append(s.group, int32(r))
	}
	if grouped {
		return
	}
	// Start offset of each run, then scatter in order.
	off := 0
	for r, n := range s.counts {
		s.counts[r] = off
		off += n
	}
	s.out = append(s.out[:0], events...)
	for i := range s.out {
		r := s.group[i]
		events[s.counts[r]] = s.out[i]
		s.counts[r]++
	}
}

// index returns the index of runID among the runs seen, adding it.
func (s *groupScratch) index(runID string) int {
	if s.byRun == nil {
		for r, id := range s.runs {
			if id == runID {
				return r
			}
		}
		if len(s.runs) < manyRuns {
			s.runs = append(s.runs, runID)
			s.counts = append(s.counts, 0)
			return len(s.runs) - 1
		}
		s.byRun = make(map[string]int, 2*manyRuns)
		for r, id := range s.runs {
			s.byRun[id] = r
		}
	}
	if r, ok := s.byRun[runID]; ok {
		return r
	}
	s.byRun[runID] = len(s.runs)
	s.runs = append(s.runs, runID)
	s.counts = append(s.counts, 0)
	return len(s.runs) - 1
}

// put clears s of references to the write's data and returns it to the
// pool (without huge buffers).
func (g *grouper) put(s *groupScratch) {
	clear(s.runs)
	clear(s.out)
	s.runs, s.counts, s.group, s.out, s.byRun = s.runs[:0], s.counts[:0], s.group[:0], s.out[:0], nil
	if cap(s.out) > 1<<14 || cap(s.runs) > 1<<12 {
		return
	}
	g.pool.Put(s)
}
