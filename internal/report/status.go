package report

import (
	"maps"
	"math"
	"time"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/stepschema"
)

// Tracker accumulates, line by line in file order, what the run status needs.
// The report builder and the run index (internal/runindex) share it so that a
// run has the same status in a listing and in its report.
//
// Status rules, first match wins:
//  1. a run.end line decides: status ok (or any status other than failed and
//     cancelled) -> completed, failed -> failed, cancelled -> cancelled;
//  2. a cancelled step seen while no failure was outstanding -> cancelled;
//  3. an outstanding failure -> failed. A failed step is outstanding until a
//     later (in file order) ok step of the same stage recovers it, e.g. a
//     retried embedding call;
//  4. the latest usable event time is older than stall_after -> stalled;
//  5. otherwise in_progress.
type Tracker struct {
	events int
	// timed counts the events whose ts is usable (see usableNanos); only
	// they move first, last and endTS.
	timed int
	// first, last and endTS are Unix nanoseconds (see usableNanos): the run
	// index keeps a Tracker per run, and a time.Time is three times the size.
	first     int64
	last      int64
	endTS     int64
	endStatus string
	endSeen   bool
	endTimed  bool
	cancelled bool
	open      int
	// outstanding counts unrecovered failures per stage.
	outstanding map[string]int
}

// Observe adds one line.
func (t *Tracker) Observe(l *ledger.Line) {
	t.events++
	ts, ok := usableNanos(l.TS)
	if ok {
		t.timed++
		if t.timed == 1 || ts < t.first {
			t.first = ts
		}
		if t.timed == 1 || ts > t.last {
			t.last = ts
		}
	}
	if l.Kind == stepschema.KindRunEnd {
		t.endSeen = true
		if l.Status != t.endStatus {
			t.endStatus = clone(l.Status)
		}
		t.endTS, t.endTimed = ts, ok
		return
	}
	switch l.Status {
	case stepschema.StatusFailed:
		if t.outstanding == nil {
			t.outstanding = make(map[string]int)
		}
		st := Stage(l.Kind)
		if n, ok := t.outstanding[st]; ok {
			t.outstanding[st] = n + 1
		} else {
			t.outstanding[clone(st)] = 1
		}
		t.open++
	case stepschema.StatusOK:
		if t.open > 0 {
			st := Stage(l.Kind)
			if n := t.outstanding[st]; n > 0 {
				t.open -= n
				delete(t.outstanding, st)
			}
		}
	case stepschema.StatusCancelled:
		if t.open == 0 {
			t.cancelled = true
		}
	}
}

// Events is the number of lines observed.
func (t *Tracker) Events() int { return t.events }

// Timed is the number of lines observed whose ts is usable: after the Unix
// epoch and no later than int64 nanoseconds hold (2262-04-11). Lines with
// other times count as events but are ignored for First, Last and Ended.
func (t *Tracker) Timed() int { return t.timed }

// First is the earliest usable event time in UTC (zero without events; the
// Unix epoch when no event had a usable time).
func (t *Tracker) First() time.Time { return t.at(t.first) }

// Last is the latest usable event time in UTC (zero without events; the
// Unix epoch when no event had a usable time).
func (t *Tracker) Last() time.Time { return t.at(t.last) }

// Ended reports whether a run.end line was seen, and its time. A run.end
// without a usable time ended at Last.
func (t *Tracker) Ended() (time.Time, bool) {
	if !t.endSeen {
		return time.Time{}, false
	}
	if !t.endTimed {
		return t.Last(), true
	}
	return t.at(t.endTS), true
}

func (t *Tracker) at(n int64) time.Time {
	switch {
	case t.events == 0:
		return time.Time{}
	case t.timed == 0:
		return time.Unix(0, 0).UTC()
	}
	return time.Unix(0, n).UTC()
}

// Bounds of the times a Tracker keeps exactly.
var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
	epoch    = time.Unix(0, 0)
)

// nanos returns t in Unix nanoseconds, clamped to the years 1677-2262 that
// int64 nanoseconds hold. The builder orders events with it; it is not a
// time to report (see usableNanos).
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// usableNanos returns t in Unix nanoseconds and whether it is a usable event
// time: strictly after the Unix epoch (a zero or unset ts is written as the
// epoch, and pre-1970 times are not ledger times) and no later than int64
// nanoseconds hold. Unusable times are treated as missing, so they cannot
// give 1677 or 1970 start dates or centuries-long run durations.
func usableNanos(t time.Time) (int64, bool) {
	if !t.After(epoch) || t.After(maxNanos) {
		return 0, false
	}
	return t.UnixNano(), true
}

// Status returns the run status at time now.
func (t *Tracker) Status(now time.Time, stallAfter time.Duration) string {
	if stallAfter <= 0 {
		stallAfter = DefaultStallAfter
	}
	switch {
	case t.endSeen:
		switch t.endStatus {
		case stepschema.StatusFailed:
			return StatusFailed
		case stepschema.StatusCancelled:
			return StatusCancelled
		}
		return StatusCompleted
	case t.cancelled:
		return StatusCancelled
	case t.open > 0:
		return StatusFailed
	case t.timed > 0 && now.Sub(t.Last()) > stallAfter:
		return StatusStalled
	}
	return StatusInProgress
}

// EndTime returns when the run ended: the run.end time, the last event time
// of a run that stopped on failure or cancellation without run.end, or false
// while the run is open.
func (t *Tracker) EndTime(status string) (time.Time, bool) {
	if t.endSeen {
		return t.at(t.endTS), true
	}
	switch status {
	case StatusFailed, StatusCancelled:
		return t.Last(), true
	}
	return time.Time{}, false
}

func clone(s string) string { return string([]byte(s)) }

// Clone returns an independent copy of t.
func (t *Tracker) Clone() Tracker {
	c := *t
	c.outstanding = maps.Clone(t.outstanding)
	return c
}
