package tui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/runledger/runledger/internal/ledger"
	"github.com/runledger/runledger/internal/report"
)

// fixtureDir holds runs of every status, from the report fixtures.
func fixtureDir(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"completed", "failed_ann_index_not_found", "cancelled", "stalled", "failed_hybrid_empty_channel"} {
		copyFixture(t, dir, f)
	}
	return dir
}

func TestListNewestFirstWithStatuses(t *testing.T) {
	h := newHarness(t, NewDirSource(fixtureDir(t)), Options{})
	h.checkGeometry()
	h.mustContain("5 runs", "STATUS", "RUN", "completed", "failed", "cancelled", "stalled")
	var order []string
	for _, l := range h.lines()[listHeaderLines:] {
		if f := strings.Fields(strings.TrimLeft(l, "›✗ ")); len(f) > 1 && strings.HasPrefix(f[1], "r-") {
			order = append(order, f[1])
		}
	}
	// Start times: stalled 09:03, cancelled 09:02, ann-missing and
	// hybrid-empty 09:01 (run id breaks the tie), completed 09:00.
	want := []string{"r-stalled", "r-cancelled", "r-ann-missing", "r-hybrid-empty", "r-completed"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("order %v, want %v\n%s", order, want, h.screen())
	}
	if !strings.HasPrefix(h.selectedRow(), "›") || !strings.Contains(h.selectedRow(), "r-stalled") {
		t.Fatalf("cursor not on the newest run: %q", h.selectedRow())
	}
	h.keys("j", "j")
	if !strings.Contains(h.selectedRow(), "r-ann-missing") {
		t.Fatalf("after j j selected %q", h.selectedRow())
	}
	h.keys("G")
	if !strings.Contains(h.selectedRow(), "r-completed") {
		t.Fatalf("after G selected %q", h.selectedRow())
	}
	h.keys("g")
	if !strings.Contains(h.selectedRow(), "r-stalled") {
		t.Fatalf("after g selected %q", h.selectedRow())
	}
}

func TestListFilters(t *testing.T) {
	dir := fixtureDir(t)
	writeRun(t, dir,
		ln("r-indexer", 1, base.Add(time.Hour), "run.start", "ok", service("indexer")),
		ln("r-indexer", 2, base.Add(time.Hour+time.Second), "run.end", "ok", service("indexer")))
	h := newHarness(t, NewDirSource(dir), Options{})
	h.mustContain("6 runs")

	h.keys("/", "status:failed")
	h.mustContain("filter", "2 of 6 runs", "r-ann-missing", "r-hybrid-empty")
	h.mustNotContain("r-completed", "r-stalled", "r-indexer")
	h.keys("enter")
	h.mustContain("filter: /status:failed")
	// Free text narrows further: it matches kinds too.
	h.keys("/", " hybrid", "enter")
	h.mustContain("1 of 6 runs", "r-hybrid-empty")
	h.mustNotContain("r-ann-missing")
	h.keys("esc")
	h.mustContain("6 runs", "r-completed")

	h.keys("/", "service:indexer", "enter")
	h.mustContain("1 of 6 runs", "r-indexer")
	h.keys("esc")

	h.keys("/", "kind:ann", "enter")
	h.mustContain("r-ann-missing", "r-hybrid-empty", "r-completed")
	h.mustNotContain("r-indexer")
	h.keys("esc")

	// s cycles quick status filters: failed first, then in_progress.
	h.keys("s")
	h.mustContain("status=failed", "2 of 6 runs")
	h.keys("s", "s")
	h.mustContain("status=stalled", "1 of 6 runs", "r-stalled")
	h.keys("esc")
	h.mustContain("6 runs")
	h.mustNotContain("status=")

	// No match says so; esc while typing drops the filter.
	h.keys("/", "nosuchrun")
	h.mustContain("no run matches the filter")
	h.keys("esc")
	h.mustContain("6 runs", "r-completed")
	// esc on an unfiltered list quits.
	h.keys("esc")
	if !h.quit {
		t.Fatal("esc on the unfiltered list did not quit")
	}
}

func TestOpenRunShowsStopReasonStagesAndBack(t *testing.T) {
	h := newHarness(t, NewDirSource(fixtureDir(t)), Options{})
	h.keys("/", "r-ann-missing", "enter", "enter")
	if h.m.screen != screenRun {
		t.Fatalf("screen %v after enter", h.m.screen)
	}
	h.checkGeometry()
	h.mustContain("run r-ann-missing · failed", "stop ERROR at ann.faiss.search code index_not_found",
		"high confidence", "could not open /data/index/code.faiss", "fix ",
		"[timeline]", "trace 4bf92f3577b34da6a3ce929d0e0e4736", "ann.faiss.search", "index_not_found")
	// The remediation from the built-in table is on screen.
	rem := h.m.data.Report.StopReason.Remediation
	if rem == "" {
		t.Fatal("fixture report has no remediation")
	}
	h.mustContain(strings.Fields(rem)[0])

	h.keys("tab")
	h.checkGeometry()
	h.mustContain("[stages]", "STAGE KIND", "embed.vllm", "ann.faiss.search", "errors (2)", "resources", "index_path")
	h.keys("tab")
	h.mustContain("[timeline]")

	h.keys("q")
	if h.m.screen != screenList {
		t.Fatal("q in the run view did not go back to the list")
	}
	h.mustContain("1 of 5 runs")
}

// waterfallRun is a failed run over two traces and four spans, whose first
// failure is not its first step.
func waterfallRun(run string, t0 time.Time) []ledger.Line {
	const tA, tB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []ledger.Line{
		ln(run, 1, at(0), "run.start", "ok", span(tA, "a000000000000001", "retrieve")),
		ln(run, 2, at(120), "embed.vllm", "ok", span(tA, "a000000000000002", "embed"), dur(118),
			func(l *ledger.Line) {
				l.Sizes = map[string]float64{"vectors": 1, "tokens": 12}
				l.Resources = map[string]string{"model": "bge-large"}
			}),
		ln(run, 3, at(300), "ann.faiss.search", "failed", span(tA, "a000000000000003", "faiss"), dur(150),
			fail("timeout", "faiss search exceeded 150ms")),
		ln(run, 4, at(500), "ann.faiss.search", "ok", span(tA, "a000000000000003", "faiss"), dur(120),
			func(l *ledger.Line) { l.Attrs = map[string]any{"nprobe": 16, "retry": true} }),
		ln(run, 5, at(700), "hydrate.duckdb", "failed", span(tB, "b000000000000001", "hydrate"), dur(40),
			fail("table_missing", "Catalog Error: Table with name chunks does not exist!\nDid you mean \"chunk\"?"),
			func(l *ledger.Line) { l.Resources = map[string]string{"table": "chunks", "db": "/data/code.duckdb"} }),
		ln(run, 6, at(705), "retrieval.error", "failed", span(tA, "a000000000000001", "retrieve"),
			fail("table_missing", "retrieval failed")),
		ln(run, 7, at(710), "run.end", "failed", span(tA, "a000000000000001", "retrieve")),
	}
}

func TestWaterfallGroupsByTraceAndSpan(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter")
	h.checkGeometry()
	var body []string
	indent := map[string]int{}
	for _, l := range h.lines() {
		if strings.Contains(l, "▾") || strings.Contains(l, "▸ span") || strings.Contains(l, "#") {
			l = strings.Replace(l, "›", " ", 1)
			t := strings.TrimSpace(l)
			body = append(body, t)
			indent[strings.Fields(t)[1]] = len(l) - len(strings.TrimLeft(l, " "))
		}
	}
	// Spans of several steps get a header; a one-step span's step sits
	// right under its trace, indented less than the steps of a span.
	want := []string{
		"▾ trace aaaa", "▸ span retrieve", "#1 run.start", "#6 retrieval.error", "#7 run.end",
		"#2 embed.vllm", "▸ span faiss", "#3 ann.faiss.search", "#4 ann.faiss.search",
		"▾ trace bbbb", "#5 hydrate.duckdb",
	}
	if len(body) != len(want) {
		t.Fatalf("waterfall rows:\n%s\nwant %d rows like %v", strings.Join(body, "\n"), len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(strings.Join(strings.Fields(body[i]), " "), w) {
			t.Fatalf("row %d = %q, want it to contain %q\n%s", i, body[i], w, strings.Join(body, "\n"))
		}
	}
	if indent["#2"] >= indent["#1"] || indent["#5"] != indent["#2"] || indent["#3"] != indent["#1"] {
		t.Fatalf("indentation %v", indent)
	}
	// Failed steps carry the ✗ marker (the root cause ◆), ok ones do not.
	for _, l := range body {
		switch {
		case strings.Contains(l, "#3 "), strings.Contains(l, "#6 "), strings.Contains(l, "#7 "):
			if !strings.Contains(l, "✗") && !strings.Contains(l, "◆") {
				t.Fatalf("failed step not marked: %q", l)
			}
		case strings.Contains(l, "#2 "), strings.Contains(l, "#4 "):
			if strings.Contains(l, "✗") {
				t.Fatalf("ok step marked failed: %q", l)
			}
		}
	}
	// The stop reason's step is the root-cause marker.
	seq := h.m.data.Report.StopReason.EventSeq
	if seq == nil {
		t.Fatal("no stop reason seq")
	}
	for _, l := range body {
		if strings.Contains(l, "◆") && !strings.Contains(l, "#"+itoa(*seq)+" ") {
			t.Fatalf("◆ on %q, stop reason seq is %d", l, *seq)
		}
	}
	// The cursor starts on the first step and skips headers.
	if !strings.Contains(h.selectedRow(), "#1 ") {
		t.Fatalf("cursor on %q", h.selectedRow())
	}
	h.keys("j", "j", "j")
	if !strings.Contains(h.selectedRow(), "#2 ") {
		t.Fatalf("after j j j cursor on %q, want #2 (headers skipped)", h.selectedRow())
	}
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }

func TestJumpToErrors(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter", "e")
	if !strings.Contains(h.selectedRow(), "#3 ann.faiss.search") {
		t.Fatalf("e selected %q, want the first failed step #3", h.selectedRow())
	}
	h.mustContain("error 1 of 3")
	// n walks the failures in time order: #5 (other trace), then #6.
	h.keys("n")
	if !strings.Contains(h.selectedRow(), "#5 hydrate.duckdb") {
		t.Fatalf("n selected %q", h.selectedRow())
	}
	h.keys("n")
	if !strings.Contains(h.selectedRow(), "#6 retrieval.error") {
		t.Fatalf("n n selected %q", h.selectedRow())
	}
	h.keys("n")
	h.mustContain("no more failed steps")
	h.keys("N")
	if !strings.Contains(h.selectedRow(), "#5 ") {
		t.Fatalf("N selected %q", h.selectedRow())
	}
	// From the stage pane, e goes back to the timeline on the error.
	h.keys("tab", "e")
	if h.m.pane != paneTimeline || !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("e from stages: pane %v, row %q", h.m.pane, h.selectedRow())
	}

	// e on the run list opens the run at its first error.
	h.keys("q", "e")
	if h.m.screen != screenRun || !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("e on the list: screen %v row %q", h.m.screen, h.selectedRow())
	}

	// A run without failures says so.
	writeRun(t, dir, ln("r-ok", 1, base.Add(time.Hour), "run.start", "ok"), ln("r-ok", 2, base.Add(time.Hour+time.Second), "run.end", "ok"))
	h.keys("q", "r", "g", "enter", "e")
	h.mustContain("run r-ok", "COMPLETED", "no failed steps")
}

func TestStepPaneShowsEverything(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	h := newHarness(t, NewDirSource(dir), Options{})
	h.keys("enter", "e", "n", "enter")
	if h.m.screen != screenStep {
		t.Fatalf("screen %v", h.m.screen)
	}
	h.checkGeometry()
	h.mustContain("step #5 · hydrate.duckdb · failed", "error code table_missing", "✗ failed",
		"trace id   bbbbbbbb", "span       b000000000000001 hydrate", "duration   40ms",
		"resources", "table", "chunks", "db", "/data/code.duckdb",
		"detail", "Catalog Error: Table with name chunks does not exist!", `Did you mean "chunk"?`)
	// [ and ] move through the waterfall rows; attributes are listed.
	h.keys("[")
	h.mustContain("step #4 · ann.faiss.search · ok", "attributes", "nprobe", "16", "retry", "true")
	h.keys("[")
	h.mustContain("step #3", "faiss search exceeded 150ms")
	h.keys("]")
	h.mustContain("step #4")
	h.keys("[", "[")
	h.mustContain("step #2 · embed.vllm", "sizes", "tokens", "12", "vectors", "model", "bge-large")
	// e in the step pane shows the first error; esc goes back to the run.
	h.keys("]", "]")
	h.keys("e")
	h.mustContain("step #3")
	h.keys("esc")
	if h.m.screen != screenRun || !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("esc from step: screen %v row %q", h.m.screen, h.selectedRow())
	}
}

func TestLiveRefreshAndFollow(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	writeRun(t, dir,
		ln("r-live", 1, now.Add(-3*time.Second), "run.start", "ok"),
		ln("r-live", 2, now.Add(-2*time.Second), "embed.vllm", "ok", dur(100)))
	h := newHarness(t, NewDirSource(dir), Options{})
	h.mustContain("1 runs", "in_progress")

	// A new run shows up at the top on the next tick.
	writeRun(t, dir, ln("r-newer", 1, now.Add(-time.Second), "run.start", "ok"))
	h.send(tickMsg(time.Now()))
	h.mustContain("2 runs")
	if !strings.Contains(h.selectedRow(), "r-live") {
		t.Fatalf("selection did not stay on r-live: %q", h.selectedRow())
	}
	h.keys("g")
	if !strings.Contains(h.selectedRow(), "r-newer") {
		t.Fatalf("newest run not first: %q", h.selectedRow())
	}

	h.keys("j", "enter")
	h.mustContain("run r-live · in_progress", "LIVE", "IN_PROGRESS")
	h.keys("f")
	h.mustContain("FOLLOW")
	if !strings.Contains(h.selectedRow(), "#2 ") {
		t.Fatalf("follow selected %q", h.selectedRow())
	}
	// Steps arrive; the tick reloads the run and the newest step stays
	// selected.
	writeRun(t, dir,
		ln("r-live", 3, now.Add(-time.Second), "ann.faiss.search", "ok", dur(12)),
		ln("r-live", 4, now, "hydrate.duckdb", "ok", dur(30)))
	h.send(tickMsg(time.Now()))
	if !strings.Contains(h.selectedRow(), "#4 hydrate.duckdb") {
		t.Fatalf("follow did not move to the newest step: %q\n%s", h.selectedRow(), h.screen())
	}
	h.mustContain("4 events")
	// Moving up leaves follow mode; new steps no longer move the cursor.
	h.keys("k")
	h.mustNotContain("FOLLOW")
	writeRun(t, dir, ln("r-live", 5, now.Add(time.Millisecond), "run.end", "ok"))
	h.send(tickMsg(time.Now()))
	if !strings.Contains(h.selectedRow(), "#3 ") {
		t.Fatalf("cursor moved without follow: %q", h.selectedRow())
	}
	h.mustContain("run r-live · completed", "COMPLETED")
	h.mustNotContain("LIVE")
}

func TestExportWritesJSONAndMarkdown(t *testing.T) {
	dir := fixtureDir(t)
	out := filepath.Join(t.TempDir(), "out", "run_reports")
	h := newHarness(t, NewDirSource(dir), Options{ReportsDir: out})
	h.keys("/", "ann-missing", "enter", "enter", "x")
	jsonPath := filepath.Join(out, ledger.FileName("r-ann-missing")+".json")
	mdPath := filepath.Join(out, ledger.FileName("r-ann-missing")+".md")
	h.mustContain("exported")
	var rep report.Report
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RunID != "r-ann-missing" || rep.StopReason.ErrorCode != "index_not_found" {
		t.Fatalf("exported report: run %q code %q", rep.RunID, rep.StopReason.ErrorCode)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(md), "# Run r-ann-missing: failed") || !strings.Contains(string(md), "index_not_found") {
		t.Fatalf("markdown:\n%s", md)
	}

	// x on the list exports the selected run; unsafe run ids get the
	// ledger's escaped file name.
	writeRun(t, dir, ln("team/run 1", 1, base.Add(2*time.Hour), "run.start", "ok"))
	h.keys("q", "esc", "r", "g", "x")
	name := ledger.FileName("team/run 1")
	if !strings.HasPrefix(name, "_") {
		t.Fatalf("expected an escaped name, got %q", name)
	}
	for _, ext := range []string{".json", ".md"} {
		if _, err := os.Stat(filepath.Join(out, name+ext)); err != nil {
			t.Fatalf("export from the list: %v\n%s", err, h.screen())
		}
	}

	// An export that cannot write says so.
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o644)
	h2 := newHarness(t, NewDirSource(dir), Options{ReportsDir: filepath.Join(blocked, "sub")})
	h2.keys("x")
	h2.mustContain("export", "failed")
}

func TestHelpAndQuit(t *testing.T) {
	h := newHarness(t, NewDirSource(fixtureDir(t)), Options{})
	h.keys("?")
	h.checkGeometry()
	h.mustContain("keys", "jump to the first error", "follow a live run", "export JSON+Markdown", "toggle help")
	h.keys("x") // any key closes help without acting
	if h.m.showHelp || h.m.flash != "" {
		t.Fatalf("help still open or key acted: help=%v flash=%q", h.m.showHelp, h.m.flash)
	}
	h.keys("enter", "enter", "?")
	h.mustContain("step pane")
	h.keys("esc")
	if h.m.screen != screenStep {
		t.Fatalf("esc closing help also navigated: %v", h.m.screen)
	}
	h.keys("q", "q")
	if h.m.screen != screenList || h.quit {
		t.Fatalf("q q from step: screen %v quit %v", h.m.screen, h.quit)
	}
	h.keys("q")
	if !h.quit {
		t.Fatal("q on the list did not quit")
	}
	h2 := newHarness(t, NewDirSource(fixtureDir(t)), Options{})
	h2.keys("enter", "ctrl+c")
	if !h2.quit {
		t.Fatal("ctrl+c did not quit")
	}
}

func TestFitsSmallTerminalsAndResizes(t *testing.T) {
	dir := t.TempDir()
	wf := waterfallRun("r-wf-with-a-rather-long-run-identifier-0123456789", base)
	for i := range wf {
		wf[i].Detail = strings.Repeat("long detail text ", 30)
	}
	writeRun(t, dir, wf...)
	for i := range 40 {
		writeRun(t, dir, ln("r-"+itoa(uint64(i)), 1, base.Add(time.Duration(i)*time.Minute), "run.start", "ok"))
	}
	h := newHarness(t, NewDirSource(dir), Options{})
	for _, size := range [][2]int{{80, 24}, {60, 15}, {132, 40}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		h.keys("g")
		h.checkGeometry()
		h.keys("G", "pgdown")
		h.checkGeometry()
		h.keys("/", "long-run", "enter", "enter")
		h.checkGeometry()
		h.keys("tab", "G")
		h.checkGeometry()
		h.keys("tab", "e", "enter")
		h.checkGeometry()
		h.keys("G")
		h.checkGeometry()
		h.keys("?")
		h.checkGeometry()
		h.keys("esc", "q", "q", "esc")
	}
}

func TestNoColor(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, waterfallRun("r-wf", base)...)
	colored := newHarness(t, NewDirSource(dir), Options{})
	colored.keys("enter")
	if !strings.Contains(colored.m.View(), "\x1b[") {
		t.Fatal("expected colours with the ANSI profile")
	}
	plain := newHarness(t, NewDirSource(dir), Options{NoColor: true})
	for _, k := range []string{"", "enter", "tab", "tab", "e", "enter", "?"} {
		if k != "" {
			plain.keys(k)
		}
		if v := plain.m.View(); strings.Contains(v, "\x1b[") {
			t.Fatalf("escape sequence with NoColor after %q: %q", k, v)
		}
	}
	// NO_COLOR in the environment sets NoColor.
	t.Setenv("NO_COLOR", "1")
	o := Options{}
	o.normalise()
	if !o.NoColor {
		t.Fatal("NO_COLOR did not set NoColor")
	}
}

func TestRunErrorsAreShown(t *testing.T) {
	dir := t.TempDir()
	p := writeRun(t, dir, ln("r-gone", 1, base, "run.start", "ok"))
	h := newHarness(t, NewDirSource(dir), Options{})
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	h.keys("enter")
	h.mustContain("run not found")
	h.keys("q", "r")
	h.mustContain("no runs yet")
}

// The run list says why each run stopped when the terminal has room (the
// report's category and root cause), and / filters on it.
func TestListShowsAndFiltersStop(t *testing.T) {
	h := newHarness(t, NewDirSource(fixtureDir(t)), Options{NoColor: true})
	h.send(tea.WindowSizeMsg{Width: 120, Height: 24})
	h.checkGeometry()
	h.mustContain("STOP", "error ann/index_not_found", "error retrieval/empty_channel", "cancelled ann/cancelled", "stalled")
	row := ""
	for _, l := range h.lines() {
		if strings.Contains(l, "r-ann-missing") {
			row = l
		}
	}
	if !strings.Contains(row, "r-ann-missing") || !strings.Contains(row, "error ann/index_not_found") {
		t.Fatalf("row %q\n%s", row, h.screen())
	}
	h.keys("/", "stop:err code:index", "enter")
	h.mustContain("1 of 5 runs", "r-ann-missing")
	h.mustNotContain("r-hybrid-empty", "r-completed")
	h.keys("esc", "/", "empty_channel", "enter")
	h.mustContain("1 of 5 runs", "r-hybrid-empty")
	h.keys("esc")

	// At 80 columns the services keep their cells and the column goes.
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.checkGeometry()
	h.mustNotContain("STOP")
	h.keys("/", "stop:cancel", "enter")
	h.mustContain("1 of 5 runs", "r-cancelled")
}
