package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/runledger/runledger/internal/report"
)

// withSpans is a Source that adds spans and trace URLs to the reports of
// another Source, as a report built from a ledger with span records has
// them.
type withSpans struct {
	Source
	spans map[string][]report.Span
	urls  map[string]string
}

func (s *withSpans) Run(ctx context.Context, runID string) (*RunData, error) {
	d, err := s.Source.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	rep := *d.Report
	rep.Spans, rep.TraceURLs = s.spans[runID], s.urls
	cp := *d
	cp.Report = &rep
	return &cp, nil
}

const (
	wfTraceA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	wfTraceB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// sp makes a span of trace at [from, to] ms after t0 (to < 0: timing not
// known yet).
func sp(t0 time.Time, trace, id, parent, name, status string, from, to int, steps, failed int) report.Span {
	s := report.Span{TraceID: trace, SpanID: id, ParentSpanID: parent, Name: name, Service: "retriever",
		Status: status, StepCount: steps, FailedSteps: failed}
	if to >= 0 {
		a, b := t0.Add(time.Duration(from)*time.Millisecond), t0.Add(time.Duration(to)*time.Millisecond)
		s.Start, s.End, s.DurationMS = &a, &b, float64(to-from)
	}
	return s
}

// waterfallSpans are the spans of waterfallRun: the root retrieve ending
// in error, embed and a stage span holding faiss under it (faiss carries
// the failed and the retried search), a span whose record has not
// arrived, an orphan whose parent is unknown, and trace B's hydrate
// (error status, the stop reason's step), ordered by start as the report
// orders them.
func waterfallSpans(t0 time.Time) []report.Span {
	return []report.Span{
		sp(t0, wfTraceA, "a000000000000001", "", "retrieve", "error", 0, 710, 3, 2),
		sp(t0, wfTraceA, "a000000000000002", "a000000000000001", "embed", "ok", 2, 120, 1, 0),
		sp(t0, wfTraceA, "a000000000000005", "a000000000000001", "stage.ann", "ok", 140, 505, 0, 0),
		sp(t0, wfTraceA, "a000000000000003", "a000000000000005", "faiss", "ok", 150, 500, 2, 1),
		sp(t0, wfTraceA, "a000000000000007", "ffffffffffffffff", "orphan", "ok", 600, 650, 0, 0),
		sp(t0, wfTraceB, "b000000000000001", "", "hydrate", "error", 660, 700, 1, 1),
		sp(t0, wfTraceA, "a000000000000006", "a000000000000001", "pending", "", 0, -1, 0, 0),
	}
}

func newWaterfallHarness(t *testing.T, opts Options, mod func([]report.Span), urls map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	spans := waterfallSpans(base)
	if mod != nil {
		mod(spans)
	}
	h := newHarness(t, &withSpans{Source: NewDirSource(dir), spans: map[string][]report.Span{"r-wf": spans}, urls: urls}, opts)
	h.keys("enter", "v")
	if h.m.pane != paneWaterfall {
		t.Fatalf("v did not open the waterfall: pane %v", h.m.pane)
	}
	return h
}

// wfLine returns the screen line of the span named name (its name cell
// starts at column 5).
func (h *harness) wfLine(name string) string {
	h.t.Helper()
	for _, l := range h.lines() {
		if len([]rune(l)) > 5 && strings.HasPrefix(strings.TrimLeft(string([]rune(l)[5:]), " "), name+" ") {
			return l
		}
	}
	h.t.Fatalf("no waterfall row for span %q:\n%s", name, h.screen())
	return ""
}

// wfDepth is the indent of a span row's name.
func wfDepth(l string) int {
	r := []rune(l)[5:]
	return len(r) - len([]rune(strings.TrimLeft(string(r), " ")))
}

// wfMarks returns the failed and critical-path marks of a span row.
func wfMarks(l string) (failed, crit bool) {
	r := []rune(l)
	return r[2] == '!', r[3] == '*'
}

func TestWaterfallNestsAndMarksSpans(t *testing.T) {
	h := newWaterfallHarness(t, Options{NoColor: true}, nil, nil)
	h.checkGeometry()
	h.mustContain("[spans]", "SPAN", "DUR", "710ms", "▾ trace aaaa", "▾ trace bbbb", "6 spans", "1 span")

	// Nesting: children indented below their parent, the orphan at the
	// top level of its trace, trace B after trace A.
	depth := map[string]int{}
	for _, n := range []string{"retrieve", "embed", "stage.ann", "faiss", "pending", "orphan", "hydrate"} {
		depth[n] = wfDepth(h.wfLine(n))
	}
	want := map[string]int{"retrieve": 0, "embed": 1, "stage.ann": 1, "faiss": 2, "pending": 1, "orphan": 0, "hydrate": 0}
	for n, d := range want {
		if depth[n] != d {
			t.Fatalf("span %s at depth %d, want %d (%v)\n%s", n, depth[n], d, depth, h.screen())
		}
	}
	order := []string{"trace aaaa", "retrieve", "embed", "stage.ann", "faiss", "pending", "orphan", "trace bbbb", "hydrate"}
	s, at := h.screen(), 0
	for _, o := range order {
		i := strings.Index(s[at:], o)
		if i < 0 {
			t.Fatalf("%q not after the rows before it (order %v):\n%s", o, order, s)
		}
		at += i + len(o)
	}

	// ! marks error-status spans and spans with failed steps, * the
	// critical path: the root, then back from its end the stage span and
	// its faiss, and embed before them; not the orphan, nor the span
	// without timing.
	for n, wantMarks := range map[string][2]bool{
		"retrieve": {true, true}, "embed": {false, true}, "stage.ann": {false, true}, "faiss": {true, true},
		"pending": {false, false}, "orphan": {false, false}, "hydrate": {true, true},
	} {
		f, c := wfMarks(h.wfLine(n))
		if f != wantMarks[0] || c != wantMarks[1] {
			t.Fatalf("span %s: failed mark %v critical mark %v, want %v\n%s", n, f, c, wantMarks, h.screen())
		}
	}

	// Bars: error spans ▓, others █; steps on them: ✗ failed, ◆ the stop
	// reason's step (hydrate's table_missing), • the rest; no bar for the
	// span whose timing is unknown.
	if l := h.wfLine("faiss"); !strings.Contains(l, "✗") || !strings.Contains(l, "█") || !strings.Contains(l, "350ms") {
		t.Fatalf("faiss row %q", l)
	}
	if l := h.wfLine("hydrate"); !strings.Contains(l, "◆") || strings.Contains(l, "█") {
		t.Fatalf("hydrate row %q: want the stop reason's ◆ on an error bar", l)
	}
	if l := h.wfLine("retrieve"); !strings.Contains(l, "▓") || !strings.Contains(l, "•") {
		t.Fatalf("retrieve row %q", l)
	}
	if l := h.wfLine("pending"); !strings.Contains(l, "?") || !strings.Contains(l, "timing not known") ||
		strings.ContainsAny(l, "█▓") {
		t.Fatalf("pending row %q", l)
	}
	// Bars are on the run's axis: embed (2-120ms) starts left of faiss
	// (150-500ms), which ends left of hydrate (660-700ms).
	first := func(l string, chars string) int {
		return strings.IndexAny(string([]rune(l)[40:]), chars)
	}
	if e, f, hy := first(h.wfLine("embed"), "█"), first(h.wfLine("faiss"), "█"), first(h.wfLine("hydrate"), "▓◆"); !(e < f && f < hy) {
		t.Fatalf("bars not on one axis: embed %d faiss %d hydrate %d\n%s", e, f, hy, h.screen())
	}
	if f := h.footerLine(); !strings.Contains(f, "enter steps") || !strings.HasSuffix(f, "? help · q back") {
		t.Fatalf("footer %q", f)
	}
	// v goes back to the steps timeline.
	h.keys("v")
	h.mustContain("[timeline]", "#1 run.start")
}

func TestWaterfallSelectingASpanListsItsSteps(t *testing.T) {
	h := newWaterfallHarness(t, Options{}, nil, nil)
	if !strings.Contains(h.selectedRow(), "retrieve") {
		t.Fatalf("cursor starts on %q, want the first span", h.selectedRow())
	}
	h.keys("j", "j", "j")
	if !strings.Contains(h.selectedRow(), "faiss") {
		t.Fatalf("j j j selected %q", h.selectedRow())
	}
	h.keys("enter")
	if h.m.screen != screenSpan {
		t.Fatalf("enter on a span: screen %v", h.m.screen)
	}
	h.checkGeometry()
	h.mustContain("span faiss · ok · 350ms", "parent     a000000000000005 stage.ann", "steps (2, 1 failed)",
		"#3", "ann.faiss.search", "timeout", "#4", "critical")
	h.mustNotContain("showing", "retrieval.error", "hydrate.duckdb")
	// The list's cursor opens a step in the step pane; ] walks the span's
	// steps and back returns to the span.
	h.keys("enter")
	h.mustContain("step #3 · ann.faiss.search · failed", "faiss search exceeded 150ms")
	h.keys("]")
	h.mustContain("step #4 · ann.faiss.search · ok")
	h.keys("]") // the span has no third step
	h.mustContain("step #4 · ann.faiss.search · ok")
	h.keys("esc")
	if h.m.screen != screenSpan || !strings.Contains(h.selectedRow(), "#4") {
		t.Fatalf("esc from the step: screen %v row %q", h.m.screen, h.selectedRow())
	}
	h.keys("q")
	if h.m.screen != screenRun || h.m.pane != paneWaterfall || !strings.Contains(h.selectedRow(), "faiss") {
		t.Fatalf("back from the span: screen %v pane %v row %q", h.m.screen, h.m.pane, h.selectedRow())
	}
	// An ancestor without steps says so; the root names no parent.
	h.keys("k", "enter")
	h.mustContain("span stage.ann", "steps (0)", "no step events on this span")
	h.keys("q", "g", "enter")
	h.mustContain("span retrieve · error", "none (a root span)", "! error", "#1", "#6", "#7")
}

func TestWaterfallSaysWhenStepsAreNotAllHeld(t *testing.T) {
	h := newWaterfallHarness(t, Options{}, func(s []report.Span) { s[3].StepCount = 5 }, nil)
	h.keys("j", "j", "j", "enter")
	h.mustContain("steps (5, 1 failed)", "showing 2 of 5")
}

func TestWaterfallJumpsBetweenFailedSpans(t *testing.T) {
	h := newWaterfallHarness(t, Options{}, nil, nil)
	h.keys("e")
	if !strings.Contains(h.selectedRow(), "retrieve") {
		t.Fatalf("e selected %q", h.selectedRow())
	}
	h.mustContain("failed span 1 of 3")
	h.keys("n")
	if !strings.Contains(h.selectedRow(), "faiss") {
		t.Fatalf("n selected %q", h.selectedRow())
	}
	h.keys("n")
	if !strings.Contains(h.selectedRow(), "hydrate") {
		t.Fatalf("n n selected %q", h.selectedRow())
	}
	h.keys("n")
	h.mustContain("no more failed spans")
	h.keys("N")
	if !strings.Contains(h.selectedRow(), "faiss") {
		t.Fatalf("N selected %q", h.selectedRow())
	}
}

func TestWaterfallTraceURL(t *testing.T) {
	urls := map[string]string{wfTraceA: "http://jaeger:16686/trace/" + wfTraceA}
	h := newWaterfallHarness(t, Options{}, nil, urls)
	var opened []string
	h.m.wf.findOpener = func() (func(string) error, string) {
		return func(u string) error { opened = append(opened, u); return nil }, "test-open"
	}
	// o alone only prints the URL.
	h.keys("o")
	h.mustContain("http://jaeger:16686/trace/"+wfTraceA, "o opens it (test-open)")
	if len(opened) != 0 {
		t.Fatalf("o without u opened %v", opened)
	}
	// u then o opens it, once.
	h.keys("u", "o")
	if len(opened) != 1 || opened[0] != urls[wfTraceA] {
		t.Fatalf("opened %v", opened)
	}
	h.mustContain("opened the trace URL with test-open")
	// Another key in between disarms o.
	h.keys("u", "j", "o")
	if len(opened) != 1 {
		t.Fatalf("o after another key opened %v", opened)
	}
	// A trace without URL says so.
	h.keys("G", "u")
	h.mustContain("no trace URL for trace bbbb")
	// The span screen has the URL too.
	h.keys("g", "enter")
	h.mustContain("trace url  http://jaeger:16686/trace/aaaa")
	// (a long URL is printed whole, wrapped)
	long := "http://tempo:3200/explore?left=" + strings.Repeat("x", 150) + "&end"
	h.m.data.Report.TraceURLs[wfTraceA] = long
	h.keys("q", "u")
	h.checkGeometry()
	if s := strings.Join(strings.Fields(strings.ReplaceAll(h.screen(), "\n", "")), ""); !strings.Contains(s, long) {
		t.Fatalf("long URL not printed whole:\n%s", h.screen())
	}
	h.m.data.Report.TraceURLs[wfTraceA] = "http://jaeger:16686/trace/" + wfTraceA
	h.keys("enter")
	h.keys("u", "o")
	if len(opened) != 2 {
		t.Fatalf("u o on the span screen opened %v", opened)
	}

	// Without an opener the URL is printed and o does not fail.
	h.keys("q")
	h.m.wf.findOpener = func() (func(string) error, string) { return nil, "" }
	h.keys("u")
	h.mustContain("http://jaeger:16686/trace/" + wfTraceA)
	h.mustNotContain("o opens")
	h.keys("o")
	h.mustContain("http://jaeger:16686/trace/" + wfTraceA)
	// An opener that fails says so; a URL that is not http(s) is never
	// handed to it.
	h.m.wf.findOpener = func() (func(string) error, string) {
		return func(string) error { return fmt.Errorf("exec: no display") }, "test-open"
	}
	h.keys("u", "o")
	h.mustContain("test-open failed: exec: no display")
	h.m.data.Report.TraceURLs[wfTraceA] = "file:///etc/passwd"
	h.keys("u")
	h.mustContain("file:///etc/passwd")
	h.mustNotContain("o opens")
}

func TestWaterfallFromTimelineSelectsTheStepsSpan(t *testing.T) {
	h := newWaterfallHarness(t, Options{}, nil, nil)
	h.keys("v", "e") // timeline: first failed step, #3 on faiss
	if !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("e selected %q", h.selectedRow())
	}
	h.keys("v")
	if !strings.Contains(h.selectedRow(), "faiss") {
		t.Fatalf("v from step #3 selected %q, want its span", h.selectedRow())
	}
	// A reload keeps the selected span.
	h.keys("k", "r")
	if !strings.Contains(h.selectedRow(), "stage.ann") || h.m.pane != paneWaterfall {
		t.Fatalf("after a reload: %q pane %v", h.selectedRow(), h.m.pane)
	}
	// tab goes to the stage table, tab again to the timeline.
	h.keys("tab")
	h.mustContain("[stages]")
	h.keys("tab")
	h.mustContain("[timeline]")
}

// manySpans is one trace of n spans: a root and chains of 20 nested
// spans, one step per span, every 7th failed.
func manySpans(t0 time.Time, n int) (*report.Report, []report.Span) {
	spans := make([]report.Span, 0, n)
	spans = append(spans, sp(t0, wfTraceA, fmt.Sprintf("%016x", 1), "", "root", "ok", 0, n+10, 0, 0))
	for i := 2; i <= n; i++ {
		parent := fmt.Sprintf("%016x", 1)
		if i%20 != 2 {
			parent = fmt.Sprintf("%016x", i-1)
		}
		status := "ok"
		if i%7 == 0 {
			status = "error"
		}
		spans = append(spans, sp(t0, wfTraceA, fmt.Sprintf("%016x", i), parent, fmt.Sprintf("span-%05d", i), status, i, i+5, 1, 0))
	}
	return &report.Report{RunID: "r-big", Status: "completed", Spans: spans}, spans
}

// TestWaterfallScrollsBigRuns: a run of 2,000 spans scrolls page by page
// at 80x24, the cursor stays on screen and G reaches the last span.
func TestWaterfallScrollsBigRuns(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, ln("r-big", 1, base, "run.start", "ok"), ln("r-big", 2, base.Add(3*time.Second), "run.end", "ok"))
	_, spans := manySpans(base, 2000)
	h := newHarness(t, &withSpans{Source: NewDirSource(dir), spans: map[string][]report.Span{"r-big": spans}}, Options{})
	h.keys("enter", "v")
	h.checkGeometry()
	h.mustContain("2000 spans", "root")
	h.keys("pgdown", "pgdown")
	h.checkGeometry()
	sel := h.selectedRow()
	if sel == "" || strings.Contains(sel, "span-0001") {
		t.Fatalf("after two pages the cursor is on %q\n%s", sel, h.screen())
	}
	h.keys("G")
	h.checkGeometry()
	if !strings.Contains(h.selectedRow(), "span-02000") {
		t.Fatalf("G selected %q\n%s", h.selectedRow(), h.screen())
	}
	h.mustNotContain("span-00100 ")
	h.keys("g")
	if !strings.Contains(h.selectedRow(), "root") {
		t.Fatalf("g selected %q", h.selectedRow())
	}
	for _, size := range [][2]int{{60, 15}, {132, 40}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		h.keys("G")
		h.checkGeometry()
		h.keys("enter")
		h.checkGeometry()
		h.keys("q")
	}
}

func TestWaterfallWithoutSpans(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter", "v")
	h.checkGeometry()
	h.mustContain("no spans in this run's report")
	h.keys("j", "enter", "u", "n", "G")
	h.checkGeometry()
	if h.m.screen != screenRun {
		t.Fatalf("keys on an empty waterfall left the run view: %v", h.m.screen)
	}
}

func TestWaterfallEscapesSpanText(t *testing.T) {
	h := newWaterfallHarness(t, Options{NoColor: true}, func(s []report.Span) {
		s[0].Name = "retrieve" + hostile
		s[0].Service = "svc" + hostile
		s[0].StatusMessage = "boom" + hostile
		s[4].TraceID = "t" + hostile
	}, map[string]string{wfTraceA: "http://x/" + hostile})
	h.assertInert("waterfall")
	h.mustContain(`retrieve\x1b[2J`)
	h.keys("u")
	h.assertInert("trace URL flash")
	h.keys("enter")
	h.assertInert("span screen")
	h.mustContain(`boom\x1b[2J`, `svc\x1b[2J`)
}

// BenchmarkWaterfallKeypress: one key press (down) and the render of the
// screen that follows, on a run of 10,000 spans and 10,000 steps, at
// 80x24. The waterfall is laid out once; a key press costs the rows on
// screen.
func BenchmarkWaterfallKeypress(b *testing.B) {
	m, _ := benchWaterfallModel(b, 10_000)
	down := tea.KeyMsg{Type: tea.KeyDown}
	up := tea.KeyMsg{Type: tea.KeyUp}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := down
		if i/5000%2 == 1 {
			k = up
		}
		m.Update(k)
		_ = m.View()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkWaterfallBuild: laying out 10,000 spans and their 10,000 steps
// (once per loaded report).
func BenchmarkWaterfallBuild(b *testing.B) {
	m, data := benchWaterfallModel(b, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = buildWaterfall(data, &m.tl)
	}
	b.ReportMetric(float64(b.N*len(data.Report.Spans))/b.Elapsed().Seconds(), "spans/s")
}

func benchWaterfallModel(b *testing.B, n int) (*model, *RunData) {
	rep, spans := manySpans(base, n)
	data := &RunData{Report: rep}
	for i := range spans {
		data.Lines = append(data.Lines, ln("r-big", uint64(i+1), spans[i].Start.Add(time.Millisecond), "stage.step", "ok",
			span(wfTraceA, spans[i].SpanID, spans[i].Name)))
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI)
	m := newModel(context.Background(), nil, r, Options{RefreshInterval: -1})
	m.screen, m.runID, m.gen = screenRun, "r-big", 1
	m.onRun(runMsg{gen: 1, runID: "r-big", data: data})
	m.toggleWaterfall()
	m.clampAll()
	_ = m.View()
	return m, data
}
