// Package spanwant is steproute's memory of the spans it wants to keep
// although they carry no step events: the parents of spans that did (and,
// in turn, their parents), so that a run's ledger gets the shape of its
// trace up to the root. Spans end, and are exported, children first, so a
// parent is wanted before it arrives.
//
// The memory is bounded by two generations of at most size/2 entries each:
// when the newer one is full the older one is forgotten (counted), which
// keeps the parents wanted most recently without a per-entry clock.
package spanwant

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Key names one span.
type Key struct {
	Trace pcommon.TraceID
	Span  pcommon.SpanID
}

// Set is a bounded set of wanted spans, safe for concurrent use.
type Set struct {
	mu        sync.Mutex
	half      int
	cur, prev map[Key]struct{}
	forgotten int64
}

// New returns a set that remembers up to size spans (at least 2).
func New(size int) *Set {
	half := max(1, size/2)
	return &Set{half: half, cur: make(map[Key]struct{}, min(half, 4096))}
}

// Want remembers that span k is wanted. Empty ids are ignored.
func (s *Set) Want(k Key) {
	if k.Trace.IsEmpty() || k.Span.IsEmpty() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[k]; ok {
		return
	}
	if len(s.cur) >= s.half {
		s.forgotten += int64(len(s.prev))
		s.prev, s.cur = s.cur, make(map[Key]struct{}, min(s.half, 4096))
	}
	s.cur[k] = struct{}{}
}

// Take reports whether span k is wanted, and forgets it: each span is
// passed on once.
func (s *Set) Take(k Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[k]; ok {
		delete(s.cur, k)
		return true
	}
	if _, ok := s.prev[k]; ok {
		delete(s.prev, k)
		return true
	}
	return false
}

// Len returns the number of spans wanted.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.prev)
}

// Forgotten returns how many wanted spans were forgotten to stay within
// the bound, since the set was made.
func (s *Set) Forgotten() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forgotten
}
