package runmetrics

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/runindex"
)

// runEntry is what the connector remembers of a run between its steps and
// its run.end: the run index's digest of its failures.
type runEntry struct {
	digest runindex.StopDigest
	seen   time.Time
}

// maxInterned bounds the table of shared kind and code strings; it is
// cleared when full (the strings then are copied again).
const maxInterned = 4096

// runStates is the bounded per-run memory: runs that had a failed or
// cancelled step and whose run.end has not come, least recently seen
// first. Runs with nothing to remember (no failure so far) take no entry.
// Not safe for concurrent use: the connector holds its lock.
type runStates struct {
	lru      *simplelru.LRU[string, *runEntry]
	ttl      time.Duration
	interned map[string]string
}

func newRunStates(size int, ttl time.Duration) (*runStates, error) {
	lru, err := simplelru.NewLRU[string, *runEntry](size, nil)
	if err != nil {
		return nil, fmt.Errorf("run cache: %w", err)
	}
	return &runStates{lru: lru, ttl: ttl, interned: make(map[string]string)}, nil
}

// intern returns the kept copy of s: kinds and codes repeat across runs,
// and a request's strings must not be kept.
func (r *runStates) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := r.interned[s]; ok {
		return v
	}
	if len(r.interned) >= maxInterned {
		clear(r.interned)
	}
	v := strings.Clone(s)
	r.interned[v] = v
	return v
}

// observe adds step l (not a run.end) of run id seen at now, and reports
// whether another run's state had to be dropped to make room.
func (r *runStates) observe(id string, l *ledger.Line, now time.Time) (evicted bool) {
	if e, ok := r.lru.Get(id); ok {
		e.digest.Observe(l, r.intern)
		e.seen = now
		return false
	}
	var d runindex.StopDigest
	d.Observe(l, r.intern)
	if d.Empty() {
		return false
	}
	return r.lru.Add(strings.Clone(id), &runEntry{digest: d, seen: now})
}

// end returns the digest of run id with its run.end l added, and forgets
// the run.
func (r *runStates) end(id string, l *ledger.Line) runindex.StopDigest {
	var d runindex.StopDigest
	if e, ok := r.lru.Peek(id); ok {
		d = e.digest
		r.lru.Remove(id)
	}
	d.Observe(l, r.intern)
	return d
}

// expire forgets the runs not seen for the TTL before now and returns how
// many. The least recently seen run is the oldest in the LRU, so the walk
// stops at the first run still fresh.
func (r *runStates) expire(now time.Time) int {
	n := 0
	for {
		_, e, ok := r.lru.GetOldest()
		if !ok || now.Sub(e.seen) < r.ttl {
			return n
		}
		r.lru.RemoveOldest()
		n++
	}
}

// len is the number of runs remembered.
func (r *runStates) len() int { return r.lru.Len() }
