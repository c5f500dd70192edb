package tui

import (
	"strings"
	"testing"
	"time"
)

// footerLine is the last screen line.
func (h *harness) footerLine() string {
	ls := h.lines()
	return strings.TrimSpace(ls[len(ls)-1])
}

// TestRunViewAt80x24KeepsHintsAndConfidence: at 80x24 the footer's key
// hints are whole (help and back included), the stop line keeps its
// confidence however long the kind and code, and a remediation longer
// than two lines says where the rest is.
func TestRunViewAt80x24KeepsHintsAndConfidence(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir,
		ln("r-long", 1, base, "run.start", "ok"),
		ln("r-long", 2, base.Add(100*time.Millisecond), "retrieval.hybrid.fusion.rerank.crossencoder", "failed", dur(90),
			fail("cross_encoder_model_weights_checksum_mismatch_after_download", "checksum mismatch")),
		ln("r-long", 3, base.Add(200*time.Millisecond), "run.end", "failed"))
	id := copyFixture(t, dir, "failed_hybrid_empty_channel")
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("/", "r-long", "enter", "enter")
	h.checkGeometry()
	stop := ""
	for _, l := range h.lines() {
		if strings.HasPrefix(l, "stop ") {
			stop = l
		}
	}
	if !strings.Contains(stop, "confidence") || !strings.HasPrefix(stop, "stop ERROR at retrieval.hybrid") {
		t.Fatalf("stop line %q lost its confidence or kind", stop)
	}
	for _, pane := range []string{"timeline", "stages"} {
		f := h.footerLine()
		if strings.Contains(f, "…") || !strings.HasSuffix(f, "? help · q back") {
			t.Fatalf("%s footer cut: %q", pane, f)
		}
		h.keys("tab")
	}

	h.keys("q", "esc", "/", id, "enter", "enter")
	h.checkGeometry()
	rem := h.m.data.Report.StopReason.Remediation
	var fix []string
	for i, l := range h.lines() {
		if strings.HasPrefix(l, "fix  ") {
			fix = h.lines()[i : i+2]
		}
	}
	if len(fix) != 2 || !strings.HasSuffix(strings.TrimSpace(fix[1]), "… (w: all)") || strings.Count(fix[1], "…") != 1 {
		t.Fatalf("a cut remediation does not say where the rest is: %q (remediation %d chars)", fix, len(rem))
	}
	// One key shows all of it.
	h.keys("w")
	words := strings.Fields(rem)
	h.mustContain("stop reason", "remediation:", words[len(words)-1])
}
