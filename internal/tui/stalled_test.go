package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/runledger/runledger/internal/ledger"
)

// TestStalledRunSaysAfterWhatAndWhichStage: a stalled run's stop line names
// the step it stalled after and the declared stage that never reported,
// with its confidence, at 80x24; the stages pane says the same.
func TestStalledRunSaysAfterWhatAndWhichStage(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir,
		ln("r-stuck", 1, base, "run.start", "ok", func(l *ledger.Line) {
			l.Attrs = map[string]any{"stages": []any{"embed", "ann", "hydrate"}}
		}),
		ln("r-stuck", 2, base.Add(100*time.Millisecond), "embed.vllm", "ok", dur(90)),
		ln("r-stuck", 3, base.Add(200*time.Millisecond), "ann.faiss.search", "ok", dur(12)))
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter")
	h.checkGeometry()
	h.mustContain("stop STALLED after ann.faiss.search (medium confidence", "stage hydrate never reported")
	h.mustNotContain("STALLED at")
	h.keys("tab")
	h.mustContain("stalled after ann.faiss.search · stage hydrate never reported")
}

// TestRunViewShowsWarnings: a report's warnings (here: a run id reused for
// a second run) are on the run view and in the stages pane.
func TestRunViewShowsWarnings(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir,
		ln("r-reused", 1, base, "run.start", "ok"),
		ln("r-reused", 2, base.Add(time.Second), "run.end", "ok"),
		ln("r-reused", 3, base.Add(time.Minute), "run.start", "ok"),
		ln("r-reused", 4, base.Add(time.Minute+time.Second), "run.end", "ok"))
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter")
	h.checkGeometry()
	if len(h.m.data.Report.Warnings) == 0 {
		t.Fatal("fixture report has no warning")
	}
	h.mustContain("warn ", "the run id was reused")
	h.keys("tab")
	h.mustContain("warnings (1)", "give every run its own id")
	if !strings.Contains(h.screen(), "run.start (seq 3) after run.end (seq 2)") {
		t.Fatalf("stages pane lacks the full warning:\n%s", h.screen())
	}
}
