package tui

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runledger/runledger/internal/ledger"
)

// hostile is producer text that would clear the screen, overwrite the line,
// end a C string and reverse the rest of the line if printed raw.
const hostile = "\x1b[2J\r\x00\u202e"

// assertInert fails when the raw view (no colours, so no escape sequence
// of ours) holds a byte or rune a terminal acts on.
func (h *harness) assertInert(what string) {
	h.t.Helper()
	out := h.m.View()
	for i, r := range out {
		bad := r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError
		if bad {
			lo, hi := max(i-40, 0), min(i+40, len(out))
			h.t.Fatalf("%s: raw %U at byte %d: %q", what, r, i, out[lo:hi])
		}
	}
	h.checkGeometry()
}

// TestViewsEscapeControls: run ids, kinds, details, error codes, resources,
// spans and services with terminal controls are shown escaped on every
// screen, and the layout stays 80x24.
func TestViewsEscapeControls(t *testing.T) {
	dir := t.TempDir()
	id := "r-" + hostile
	writeRun(t, dir,
		ln(id, 1, base, "run.start", "ok", service("svc"+hostile), span("t"+hostile, "s"+hostile, "span"+hostile)),
		ln(id, 2, base.Add(100e6), "embed.vllm"+hostile, "failed", service("svc"+hostile), dur(90),
			fail("oom"+hostile, "CUDA out of memory"+hostile+"\nsecond line"+hostile), func(l *ledger.Line) {
				l.Resources = map[string]string{"model" + hostile: "bge" + hostile}
				l.Sizes = map[string]float64{"tokens" + hostile: 3}
				l.Attrs = map[string]any{"attr" + hostile: "v" + hostile}
			}),
		ln(id, 3, base.Add(200e6), "run.end", "failed", service("svc"+hostile)))
	h := newHarness(t, NewDirSource(dir), Options{NoColor: true})
	h.assertInert("run list")
	h.mustContain(`r-\x1b[2J\r\x00\u202e`, `svc\x1b[2J`)
	h.keys("/", "r-")
	h.assertInert("filtered list")
	h.keys("enter", "enter")
	h.assertInert("run view")
	h.mustContain(`run r-\x1b[2J\r\x00\u202e`, `embed.vllm\x1b[2J`, `oom\x1b[2J`, `CUDA out of memory\x1b[2J`)
	h.keys("tab")
	h.assertInert("stages pane")
	h.mustContain(`model\x1b[2J`)
	h.keys("tab", "e", "enter")
	if h.m.screen != screenStep {
		t.Fatalf("screen %v, want the step pane", h.m.screen)
	}
	h.assertInert("step pane")
	h.mustContain(`attr\x1b[2J`, `bge\x1b[2J`, `tokens\x1b[2J`, `second line\x1b[2J`)
	h.setFlashAndCheck("export " + id + " failed: " + hostile)
}

// setFlashAndCheck shows an error flash built from producer text.
func (h *harness) setFlashAndCheck(msg string) {
	h.t.Helper()
	h.m.setFlash(msg, true)
	h.assertInert("flash")
	if !strings.Contains(h.screen(), `\x1b[2J`) {
		h.t.Fatalf("flash not shown escaped:\n%s", h.screen())
	}
}

// TestListKeepsIDsRecognisable: at 80x24 a 26-character ULID is shown whole
// and a 100 kB run id keeps its start and end.
func TestListKeepsIDsRecognisable(t *testing.T) {
	dir := t.TempDir()
	ulid := "01JDXKQ7Z8M3N4P5Q6R7S8T9VW"
	long := "r-" + strings.Repeat("x", 100_000) + "-end"
	writeRun(t, dir, ln(ulid, 1, base, "run.start", "ok"))
	writeRun(t, dir, ln(long, 1, base.Add(-time.Minute), "run.start", "ok"))
	h := newHarness(t, NewDirSource(dir), Options{NoColor: true})
	h.checkGeometry()
	h.mustContain(ulid, "r-xxx", "xxx-end", "retri")
}
