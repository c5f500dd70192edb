package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/insights"
	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/runindex"
)

// insightsNow is "now" for the insights fixtures: the runs start in the
// hour before it.
var insightsNow = base.Add(2 * time.Hour)

// writeIndexRuns writes 12 runs of service retriever: the failing ones
// search index v3 and fail with index_not_found, the others use v2 and
// complete; r-good-5 is the newest completed run.
func writeIndexRuns(t *testing.T, dir string) {
	t.Helper()
	for i := range 12 {
		bad := i%2 == 0
		id, idx, st, code, annMS := fmt.Sprintf("r-good-%d", i/2), "v2", "ok", "", 40.0
		if bad {
			id, idx, st, code, annMS = fmt.Sprintf("r-bad-%d", i/2), "v3", "failed", "index_not_found", 900
		}
		at := base.Add(time.Hour + time.Duration(i)*time.Minute)
		step := func(n int) time.Time { return at.Add(time.Duration(n) * 10 * time.Millisecond) }
		writeRun(t, dir,
			ln(id, 1, step(0), "run.start", "ok"),
			ln(id, 2, step(1), "embed.vllm", "ok", dur(12), func(l *ledger.Line) { l.Sizes = map[string]float64{"tokens": float64(100 + i)} }),
			ln(id, 3, step(2), "ann.faiss.search", st, dur(annMS), fail(code, ""), func(l *ledger.Line) {
				l.Resources = map[string]string{"index_version": idx}
			}),
			ln(id, 4, step(3), "run.end", st))
	}
}

func TestInsightsScreenFromDirectory(t *testing.T) {
	dir := t.TempDir()
	writeIndexRuns(t, dir)
	src := NewDirSource(dir)
	src.now = func() time.Time { return insightsNow }
	h := newHarness(t, src, Options{NoColor: true})
	h.mustContain("12 runs")
	h.keys("i")
	h.checkGeometry()
	h.mustContain("insights · last 24h", "12 runs · 6 failing",
		"completed 6 · failed 6",
		"top causes", "ann.faiss.search / index_not_found", "e.g. r-bad-5, r-bad-4",
		"stages", "what failing runs have in common")
	// The difference failing runs share is ranked first.
	ls := h.lines()
	for i, l := range ls {
		if strings.Contains(l, "key = value") {
			if i+1 >= len(ls) || !strings.Contains(ls[i+1], "resource.index_version = v3") || !strings.Contains(ls[i+1], "6/6") {
				t.Fatalf("first difference is %q, want resource.index_version = v3 in 6/6 failing runs:\n%s", ls[i+1], h.screen())
			}
		}
	}
	// The stage table names the failure rate of the failing stage.
	row := ""
	for _, l := range ls {
		if strings.HasPrefix(strings.TrimSpace(l), "ann.faiss.search ") {
			row = l
		}
	}
	if !strings.Contains(row, "50.0%") || !strings.Contains(row, "12") {
		t.Fatalf("ann stage row %q:\n%s", row, h.screen())
	}
	// A window without runs: 1h before "now" ends after the last run.
	h.keys("t", "t", "t") // 7d, 30d, 1h
	h.mustContain("insights · last 1h")
	h.keys("esc")
	h.mustContain("12 runs", "r-good-5")
	h.mustNotContain("top causes")
}

func TestDiffScreenAgainstBaseline(t *testing.T) {
	dir := t.TempDir()
	writeIndexRuns(t, dir)
	src := NewDirSource(dir)
	src.now = func() time.Time { return insightsNow }
	h := newHarness(t, src, Options{NoColor: true})
	h.keys("j", "enter") // the newest failed run, below r-good-5
	h.mustContain("run r-bad-5")
	h.keys("d")
	h.checkGeometry()
	h.mustContain("diff · r-bad-5 → baseline r-good-5", "first divergence", "ann.faiss.search",
		"resource changes", "index_version: v3 → v2", "size changes", "tokens: 110 → 111")
	h.keys("q")
	h.mustContain("run r-bad-5")
	h.mustNotContain("first divergence")

	// A run diffed with no completed run of its service to compare with.
	lone := t.TempDir()
	writeRun(t, lone, ln("r-only", 1, base, "run.start", "ok"), ln("r-only", 2, base.Add(time.Second), "run.end", "failed"))
	d, err := NewDirSource(lone).Diff(t.Context(), "r-only")
	if !errors.Is(err, ErrRunNotFound) || d != nil {
		t.Fatalf("diff without baseline: %v %v", d, err)
	}
}

// Both screens fit 24 rows of 80 cells whatever their length, and scroll.
func TestInsightsAndDiffFit80x24(t *testing.T) {
	dir := t.TempDir()
	writeIndexRuns(t, dir)
	for i := range 30 { // many stages and causes
		id := fmt.Sprintf("r-many-%02d", i)
		at := base.Add(90*time.Minute + time.Duration(i)*time.Second)
		writeRun(t, dir, ln(id, 1, at, "run.start", "ok"),
			ln(id, 2, at.Add(time.Millisecond), fmt.Sprintf("stage%02d.a-rather-long-kind-name-that-must-be-cut", i), "failed",
				fail(fmt.Sprintf("code_%02d_with_a_long_name", i), "")),
			ln(id, 3, at.Add(2*time.Millisecond), "run.end", "failed"))
	}
	src := NewDirSource(dir)
	src.now = func() time.Time { return insightsNow }
	h := newHarness(t, src, Options{NoColor: true})
	h.keys("i")
	h.checkGeometry()
	first := h.screen()
	h.keys("pgdown")
	h.checkGeometry()
	if h.screen() == first {
		t.Fatal("pgdown did not scroll the insights")
	}
	h.keys("G")
	h.checkGeometry()
	h.mustContain("what failing runs have in common", "resource.index_version = v3")
}

func TestInsightsAndDiffOverHTTP(t *testing.T) {
	dir := t.TempDir()
	writeIndexRuns(t, dir)
	ix := runindex.New(dir, runindex.Options{})
	eng := insights.NewEngine()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /reports/insights", func(w http.ResponseWriter, r *http.Request) {
		ix.Refresh()
		q, err := insights.ParseQuery(r.URL.Query(), insightsNow)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		in, _ := eng.Compute(ix, q, insightsNow, nil)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(in)
	})
	mux.HandleFunc("GET /reports/diff", func(w http.ResponseWriter, r *http.Request) {
		ix.Refresh()
		if r.URL.Query().Get("baseline") != "auto" {
			http.Error(w, "want baseline=auto", 400)
			return
		}
		d, err := insights.DiffRuns(ix, dir, r.URL.Query().Get("a"), "auto")
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d)
	})
	src := httpSource(t, "http://"+serveLocal(t, mux))

	in, err := src.Insights(t.Context(), "24h")
	if err != nil {
		t.Fatal(err)
	}
	if in.Runs != 12 || len(in.Differences) == 0 || in.Differences[0].Value != "v3" {
		t.Fatalf("insights over HTTP: %+v", in)
	}
	d, err := src.Diff(t.Context(), "r-bad-2")
	if err != nil {
		t.Fatal(err)
	}
	if d.B != "r-good-5" || len(d.ResourceChanges) != 1 {
		t.Fatalf("diff over HTTP: %+v", d)
	}
	if _, err := src.Diff(t.Context(), "r-nope"); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("diff of an unknown run over HTTP: %v", err)
	}
}
