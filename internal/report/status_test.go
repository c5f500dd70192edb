package report

import (
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// The Tracker keeps times as int64 nanoseconds: instants survive exactly
// (any zone in, UTC out), and times int64 cannot hold are clamped, not
// wrapped around.
func TestTrackerTimes(t *testing.T) {
	var tr Tracker
	if !tr.First().IsZero() || !tr.Last().IsZero() {
		t.Fatal("times of an empty tracker are not zero")
	}
	if _, ok := tr.Ended(); ok {
		t.Fatal("empty tracker ended")
	}
	zone := time.FixedZone("UTC+2", 2*3600)
	start := time.Date(2026, 11, 25, 12, 0, 0, 123456789, zone)
	tr.Observe(&ledger.Line{TS: start.Add(time.Second), Kind: "embed.call", Status: "ok"})
	tr.Observe(&ledger.Line{TS: start, Kind: "run.start", Status: "ok"})
	tr.Observe(&ledger.Line{TS: start.Add(3 * time.Second), Kind: "run.end", Status: "failed"})
	if f := tr.First(); !f.Equal(start) || f.Location() != time.UTC {
		t.Fatalf("first %v, want %v in UTC", f, start)
	}
	if l := tr.Last(); !l.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("last %v", l)
	}
	if end, ok := tr.Ended(); !ok || !end.Equal(start.Add(3*time.Second)) {
		t.Fatalf("ended %v %v", end, ok)
	}
	if st := tr.Status(start.Add(time.Hour), time.Minute); st != StatusFailed {
		t.Fatalf("status %q", st)
	}

	var far Tracker
	far.Observe(&ledger.Line{TS: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "x"})
	far.Observe(&ledger.Line{TS: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "x"})
	if far.First().Year() != 1677 || far.Last().Year() != 2262 {
		t.Fatalf("out-of-range times: first %v, last %v; want clamped to 1677 and 2262", far.First(), far.Last())
	}
	if st := far.Status(time.Now(), time.Minute); st != StatusInProgress {
		t.Fatalf("a run last seen in 2262 is %q at present, want in_progress", st)
	}
}
