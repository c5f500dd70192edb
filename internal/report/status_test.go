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

	// Times int64 nanoseconds cannot hold, and times at or before the Unix
	// epoch (how a zero ts is written), are not usable: they are ignored
	// rather than clamped to 1677 or 2262.
	var far Tracker
	far.Observe(&ledger.Line{TS: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "x"})
	far.Observe(&ledger.Line{TS: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "x"})
	far.Observe(&ledger.Line{TS: time.Unix(0, 0), Kind: "x"})
	if far.Events() != 3 || far.Timed() != 0 {
		t.Fatalf("events %d timed %d, want 3 and 0", far.Events(), far.Timed())
	}
	if !far.First().Equal(time.Unix(0, 0)) || !far.Last().Equal(time.Unix(0, 0)) {
		t.Fatalf("out-of-range times: first %v, last %v; want the epoch", far.First(), far.Last())
	}
	if st := far.Status(time.Now(), time.Minute); st != StatusInProgress {
		t.Fatalf("a run without usable times is %q at present, want in_progress", st)
	}
	far.Observe(&ledger.Line{TS: start, Kind: "x"})
	far.Observe(&ledger.Line{TS: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "run.end", Status: "ok"})
	if !far.First().Equal(start) || !far.Last().Equal(start) {
		t.Fatalf("first %v, last %v; want %v", far.First(), far.Last(), start)
	}
	if end, ok := far.Ended(); !ok || !end.Equal(start) {
		t.Fatalf("run.end without usable time ended %v %v, want %v", end, ok, start)
	}
}
