package report

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// Issue #22: hostile numbers must not make a run unreportable. Durations and
// sizes are capped at MaxDurationMS / MaxSize (flagged in Clamped), unusable
// ones dropped (counted in Dropped), and timestamps outside 1970-2262 are
// ignored for the run's times.
func TestHostileNumbers(t *testing.T) {
	d := func(f float64) *float64 { return &f }
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	line := func(seq uint64, at time.Time, kind string, dur *float64, sizes map[string]float64) ledger.Line {
		return ledger.Line{V: 1, RunID: "r", Seq: seq, TS: at, Kind: kind, Status: "ok", DurationMS: dur, Sizes: sizes}
	}
	lines := []ledger.Line{
		line(1, ts, "run.start", nil, nil),
		line(2, ts.Add(time.Second), "embed.call", d(1e308), map[string]float64{"bytes": 1e308}),
		line(3, ts.Add(2*time.Second), "embed.call", d(1e308), map[string]float64{"bytes": 1e308}),
		line(4, ts.Add(3*time.Second), "embed.call", d(-5), map[string]float64{"bytes": -1}),
		line(5, ts.Add(4*time.Second), "embed.call", d(math.NaN()), map[string]float64{"bytes": math.NaN()}),
		line(6, ts.Add(5*time.Second), "embed.call", d(math.Inf(1)), map[string]float64{"bytes": math.Inf(-1)}),
		line(7, ts.Add(6*time.Second), "embed.call", d(10), map[string]float64{"bytes": 7}),
		// Hostile times: the epoch (a zero ts), before 1970, year 1, and
		// beyond int64 nanoseconds.
		line(8, time.Unix(0, 0), "ann.search", d(1), nil),
		line(9, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), "ann.search", d(1), nil),
		line(10, time.Time{}, "ann.search", d(1), nil),
		line(11, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "ann.search", d(1), nil),
		line(12, ts.Add(10*time.Second), "run.end", nil, nil),
	}
	r := Build(lines, Options{Now: func() time.Time { return ts.Add(time.Hour) }})

	js, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if md := r.Markdown(); strings.Contains(md, strings.Repeat("0", 50)) {
		t.Errorf("markdown has a huge number:\n%s", md)
	}

	var embed *StageStats
	for i := range r.Stages {
		s := &r.Stages[i]
		for _, f := range []float64{s.TotalMS, s.P50MS, s.P95MS, s.MaxMS} {
			if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				t.Errorf("%s: non-finite or negative statistic %v", s.Kind, f)
			}
		}
		if s.MaxMS > MaxDurationMS || s.P50MS > MaxDurationMS || s.P95MS > MaxDurationMS {
			t.Errorf("%s: statistic above MaxDurationMS: %+v", s.Kind, s)
		}
		if s.Kind == "embed.call" {
			embed = s
		}
	}
	if embed == nil {
		t.Fatalf("no embed.call stage: %s", js)
	}
	if embed.Count != 6 || embed.Timed != 3 || embed.Dropped != 6 || embed.Clamped != 4 {
		t.Errorf("embed.call count %d timed %d dropped %d clamped %d, want 6 3 6 4",
			embed.Count, embed.Timed, embed.Dropped, embed.Clamped)
	}
	if embed.MaxMS != MaxDurationMS || embed.P50MS != MaxDurationMS || embed.TotalMS != 2*MaxDurationMS+10 {
		t.Errorf("embed.call max %v p50 %v total %v", embed.MaxMS, embed.P50MS, embed.TotalMS)
	}
	if got := embed.Sizes["bytes"]; got != 2*MaxSize+7 {
		t.Errorf("embed.call bytes %v, want %v", got, 2*MaxSize+7)
	}
	if !r.Clamped {
		t.Error("report not flagged clamped")
	}

	// Only the usable times count: the run spans ts to ts+10s.
	if r.InvalidTimestamps != 4 {
		t.Errorf("invalid timestamps %d, want 4", r.InvalidTimestamps)
	}
	if r.StartedAt == nil || !r.StartedAt.Equal(ts) || r.EndedAt == nil || !r.EndedAt.Equal(ts.Add(10*time.Second)) ||
		r.LastEventAt == nil || !r.LastEventAt.Equal(ts.Add(10*time.Second)) {
		t.Errorf("started %v ended %v last %v", r.StartedAt, r.EndedAt, r.LastEventAt)
	}
	if r.DurationMS != 10000 {
		t.Errorf("duration %v ms, want 10000", r.DurationMS)
	}
	if r.Status != StatusCompleted {
		t.Errorf("status %q", r.Status)
	}
	for _, ev := range r.Timeline.Events {
		if ev.DurationMS != nil && (*ev.DurationMS < 0 || *ev.DurationMS > MaxDurationMS) {
			t.Errorf("timeline seq %d duration %v", ev.Seq, *ev.DurationMS)
		}
	}
	if strings.Contains(string(js), "e+308") {
		t.Errorf("report keeps 1e308: %s", js)
	}
}

// A run whose every time is unusable has no start or end, and no duration.
func TestHostileTimesOnly(t *testing.T) {
	huge := time.Unix(0, math.MaxInt64).Add(time.Hour)
	lines := []ledger.Line{
		{V: 1, RunID: "r", Seq: 1, TS: time.Unix(0, 0), Kind: "run.start", Status: "ok"},
		{V: 1, RunID: "r", Seq: 2, TS: huge, Kind: "run.end", Status: "ok"},
	}
	r := Build(lines, Options{Now: time.Now})
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if r.StartedAt != nil || r.EndedAt != nil || r.LastEventAt != nil || r.DurationMS != 0 || r.InvalidTimestamps != 2 {
		t.Errorf("started %v ended %v last %v duration %v invalid %d",
			r.StartedAt, r.EndedAt, r.LastEventAt, r.DurationMS, r.InvalidTimestamps)
	}
	if r.Status != StatusCompleted {
		t.Errorf("status %q", r.Status)
	}

	// Usable times more than MaxDurationMS apart: the run duration is capped.
	lines = []ledger.Line{
		{V: 1, RunID: "r", Seq: 1, TS: time.Unix(1, 0), Kind: "run.start", Status: "ok"},
		{V: 1, RunID: "r", Seq: 2, TS: time.Unix(0, math.MaxInt64), Kind: "run.end", Status: "ok"},
	}
	r = Build(lines, Options{Now: time.Now})
	if r.DurationMS != MaxDurationMS || !r.Clamped {
		t.Errorf("duration %v clamped %v, want %v true", r.DurationMS, r.Clamped, MaxDurationMS)
	}
}
